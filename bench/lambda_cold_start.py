"""Lambda cold start: each handler's zip size and import time against `import boto3` alone.

Each import runs in a fresh `python -I -S` whose path holds only the function's zip (extracted)
and the packages AWS's Python runtime ships (boto3 and its dependencies), exactly as the twin's
Lambda sandbox runs a handler. The baseline, measured in the same run, imports boto3 alone: a
handler's own cost is the difference, and the ratio says how close it is to the floor.

    .venv/bin/python bench/lambda_cold_start.py [--runs 15]
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from deploy.package import lambda_zip  # noqa: E402
from deploy.template import load_template  # noqa: E402
from emulation.awslambda.sandbox import Sandbox  # noqa: E402

_IMPORT = """
import sys, time
sys.path[:0] = [sys.argv[1]]
sys.path.append(sys.argv[2])
t0 = time.perf_counter()
__import__(sys.argv[3])
print(time.perf_counter() - t0)
"""


def handlers() -> dict[str, str]:
    """Function logical id -> handler module, as the template declares them."""
    resources = load_template()["Resources"]
    return {
        logical_id: spec["Properties"]["Handler"].rsplit(".", 1)[0]
        for logical_id, spec in resources.items()
        if spec["Type"] == "AWS::Lambda::Function"
    }


def import_seconds(code: Path, runtime: Path, module: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        result = subprocess.run(
            [sys.executable, "-I", "-S", "-c", _IMPORT, str(code), str(runtime), module],
            capture_output=True,
            text=True,
            check=True,
        )
        times.append(float(result.stdout))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    body = lambda_zip(REPO)
    with tempfile.TemporaryDirectory() as scratch:
        code, runtime = Path(scratch, "code"), Path(scratch, "runtime")
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            archive.extractall(code)
        Sandbox._link_runtime_packages(runtime)
        baseline = import_seconds(code, runtime, "boto3", args.runs)
        files = len(zipfile.ZipFile(io.BytesIO(body)).namelist())
        print(f"zip: {len(body) / 1024:.0f} KiB ({files} files), one zip for both functions")
        print(f"import boto3 alone (baseline): {1000 * baseline:.0f} ms, median of {args.runs}")
        for logical_id, module in handlers().items():
            seconds = import_seconds(code, runtime, module, args.runs)
            print(
                f"{logical_id:<24} {module:<40} {1000 * seconds:6.0f} ms  "
                f"{seconds / baseline:.2f}x boto3, +{1000 * (seconds - baseline):.0f} ms of its own"
            )


if __name__ == "__main__":
    main()
