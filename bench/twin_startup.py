"""Start-up time and memory of the twin, against a bare moto server measured in the same run.

Each measurement runs in a fresh Python process (imports included, as `make twin` pays them):
start the server, wait until it answers, make the same first calls to five services, then
report wall time and resident memory (psutil). Prints medians of a few runs and the ratios.

    .venv/bin/python bench/twin_startup.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Shared by both variants: first calls to the services the pipeline uses, then the numbers.
_MEASURE = """
import boto3, psutil
def first_calls(endpoint):
    kw = dict(endpoint_url=endpoint, region_name="us-east-1",
              aws_access_key_id="testing", aws_secret_access_key="testing")
    boto3.client("s3", **kw).list_buckets()
    boto3.client("dynamodb", **kw).list_tables()
    boto3.client("sns", **kw).list_topics()
    boto3.client("lambda", **kw).list_functions()
    boto3.client("events", **kw).list_rules()
ready = time.perf_counter() - t0
first_calls(endpoint)
print(json.dumps({"ready_s": ready, "warm_s": time.perf_counter() - t0,
                  "rss_mb": psutil.Process().memory_info().rss / 2**20}))
"""

VARIANTS = {
    "moto": """
import json, time
t0 = time.perf_counter()
from emulation.core.server import MotoServer
server = MotoServer()
server.start()
endpoint = server.endpoint_url
""",
    "twin": """
import json, time
t0 = time.perf_counter()
from emulation.core.build import build_twin
twin = build_twin().start()
endpoint = twin.endpoint_url
""",
}


def measure(variant: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", VARIANTS[variant] + _MEASURE],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    results = {}
    for variant in VARIANTS:
        samples = [measure(variant) for _ in range(runs)]
        results[variant] = {key: statistics.median(s[key] for s in samples) for key in samples[0]}
    base, twin = results["moto"], results["twin"]
    print(f"{'':28}{'bare moto':>12}{'twin':>12}{'ratio':>8}   (median of {runs} runs)")
    for key, label, unit in [
        ("ready_s", "ready (imports + start)", "s"),
        ("warm_s", "after first calls", "s"),
        ("rss_mb", "resident memory", "MB"),
    ]:
        print(
            f"{label:28}{base[key]:>10.2f}{unit:>2}{twin[key]:>10.2f}{unit:>2}"
            f"{twin[key] / base[key]:>8.2f}"
        )


if __name__ == "__main__":
    main()
