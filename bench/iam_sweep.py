"""The IAM sweep: is each statement of each role in deploy/template.yaml needed?

Runs the whole chain on the embedded twin (IAM enforced) once with the template as it is (the
baseline, which must stay green), then once per statement on a copy without it, and prints
where each run failed, on which AccessDenied, and its time against the baseline's.

    .venv/bin/python bench/iam_sweep.py [--only Role/Sid ...] [--engine pocketsphinx]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from emulation.core.build import build_twin  # noqa: E402
from emulation.e2e.chain import E2EOptions, run_chain, twin_config  # noqa: E402
from emulation.e2e.report import succeeded  # noqa: E402
from emulation.e2e.sites import EmbeddedSite  # noqa: E402
from emulation.e2e.stages import StageLog  # noqa: E402
from emulation.e2e.sweep import failure_path, run_without, statements  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None, help="Role/Sid statements to run")
    parser.add_argument("--engine", default=E2EOptions.engine)
    parser.add_argument("--corpus", type=Path, default=E2EOptions.corpus, help="audio + .txt")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds per chain")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="iam-sweep-") as scratch:
        workdir = Path(scratch)
        options = E2EOptions(
            corpus=args.corpus.resolve(),
            engine=args.engine,
            timeout=args.timeout,
            runs_dir=workdir / "runs",
            stack="asr-sweep",
        )
        twin = build_twin(twin_config(options, workdir / "sandbox")).start()
        try:
            site = EmbeddedSite(twin)
            started = time.monotonic()
            baseline = run_chain(site, options, StageLog(lambda line: None))
            base_seconds = time.monotonic() - started
            if not succeeded(baseline):
                print(f"baseline failed: {baseline.get('error')}", file=sys.stderr)
                return 1
            print(f"baseline (template as it is): green in {base_seconds:.1f} s")
            refs = [r for r in statements() if args.only is None or str(r) in args.only]
            needed = 0
            for ref in refs:
                twin.reset()
                outcome = run_without(site, ref, options, workdir)
                path = ""
                if outcome.failed_stage is None:  # not on the happy path: the failure path?
                    twin.reset()
                    outcome = run_without(site, ref, failure_path(options), workdir)
                    path = " [failure path]"
                needed += outcome.failed_stage is not None
                where = (outcome.failed_stage or "NOT NEEDED (both paths green)") + path
                denial = f"{outcome.action} on {outcome.resource}" if outcome.action else "-"
                print(
                    f"{ref!s:45} {where:16} {denial}  "
                    f"({outcome.seconds:.1f} s, {outcome.seconds / base_seconds:.2f}x baseline)"
                )
                if outcome.failed_stage and not outcome.action:
                    print(f"{'':45} {outcome.message[:200]}")
            print(f"{needed}/{len(refs)} statements needed by the chain")
        finally:
            twin.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
