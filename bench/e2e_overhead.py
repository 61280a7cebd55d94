"""`make e2e` against the speech recognition it waits on, measured side by side.

Pure recognition: a fresh process loads the twin's engine with the twin's settings
(``TranscribeConfig``: engine, workers, threads, beam), decodes every audio file of the corpus
and recognizes them on the same number of workers; no twin, no AWS calls. The chain: ``python
-m emulation e2e`` as ``make e2e`` runs it (twin start, deploy, upload, the schedule, the
instance's lifecycle script and notebook, Transcribe, ingest, the message, the stop), timed
from the outside; its summary gives each stage's share and the span the twin's engine took
(first job started to last job completed, from ListTranscriptionJobs).

Goals (issue 15): chain <= 1.2 x pure + 3 s; the twin's engine span within 10% of pure. Also
printed: the scheduled run alone (fire schedule to instance stop), without the twin's start, the
deploy and the creation run, which a stack pays once; and the whole of ``make e2e`` while a
background twin runs (``asr-monitor twin start``), which finds its stack deployed.

    .venv/bin/python bench/e2e_overhead.py [--repeat 3] [--corpus DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCHEDULED_FROM = "fire schedule"  # the stages of the run the schedule starts
sys.path.insert(0, str(ROOT))


def pure_recognition(corpus: Path) -> dict[str, float]:
    """Runs in a child (``--pure``), so it pays its imports and model load as the twin does."""
    from emulation.e2e.chain import corpus_files
    from emulation.transcribe.audio import decode_media
    from emulation.transcribe.engines import get_engine
    from emulation.transcribe.service import TranscribeConfig

    started = time.perf_counter()
    config = TranscribeConfig()
    engine = get_engine(config.engine, config.engine_options())
    loaded = time.perf_counter()
    files = [path for path in corpus_files(corpus) if path.suffix.lower() != ".txt"]

    def recognize(path: Path) -> None:
        engine.transcribe(decode_media(path.read_bytes(), path.name).samples)

    with ThreadPoolExecutor(config.workers) as pool:
        list(pool.map(recognize, files))
    done = time.perf_counter()
    return {
        "files": len(files),
        "load": loaded - started,
        "recognize": done - loaded,
        "total": done - started,
    }


def run_pure(corpus: Path) -> dict[str, float]:
    argv = [sys.executable, __file__, "--pure", str(corpus)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_chain(corpus: Path, twin_dir: str | None = None) -> dict:
    """``make e2e``'s chain; on the background twin whose state is in ``twin_dir``, else (as on
    a fresh checkout) on a twin of its own even if a background twin runs here."""
    from emulation.background.state import DIR_ENV

    with tempfile.TemporaryDirectory(prefix="e2e-bench-") as runs:
        argv = [sys.executable, "-m", "emulation", "e2e", "--corpus", str(corpus)]
        env = {**os.environ, DIR_ENV: twin_dir or runs}
        started = time.perf_counter()
        done = subprocess.run(
            [*argv, "--runs-dir", runs],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(
                f"make e2e's chain failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
            )
        (path,) = Path(runs).glob("*/summary.json")
        summary = json.loads(path.read_text())
    return {"wall": wall, "stages": summary["stages"], "span": summary["transcription"]}


@contextmanager
def background_twin() -> Iterator[str]:
    """``asr-monitor twin start`` in a folder and on a port of its own: the stack deployed and
    its creation run over, as the day's later ``make e2e`` runs find it; its state folder."""
    from emulation.background.state import DIR_ENV, PORT_ENV
    from emulation.core.server import free_port

    with tempfile.TemporaryDirectory(prefix="e2e-bench-twin-") as folder:
        env = {**os.environ, DIR_ENV: folder, PORT_ENV: str(free_port())}
        twin = [sys.executable, "-m", "deploy", "twin"]
        started = subprocess.run(
            [*twin, "start"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        if started.returncode != 0:
            raise SystemExit(f"asr-monitor twin start failed:\n{started.stdout}{started.stderr}")
        try:
            yield folder
        finally:
            subprocess.run([*twin, "stop"], cwd=ROOT, env=env, capture_output=True, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, medians reported")
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus" / "sample")
    args = parser.parse_args()

    pures, chains, warm = [], [], []
    with background_twin() as twin_dir:
        run_chain(args.corpus, twin_dir)  # its first make e2e uploads the corpus
        for n in range(args.repeat):  # interleaved, so a busy moment hits all alike
            pures.append(run_pure(args.corpus))
            chains.append(run_chain(args.corpus))
            warm.append(run_chain(args.corpus, twin_dir))
            print(
                f"round {n + 1}: pure {pures[-1]['total']:.1f} s, chain {chains[-1]['wall']:.1f}"
                f" s, on a running twin {warm[-1]['wall']:.1f} s",
                file=sys.stderr,
            )

    pure = statistics.median(p["total"] for p in pures)
    load = statistics.median(p["load"] for p in pures)
    recognize = statistics.median(p["recognize"] for p in pures)
    wall = statistics.median(c["wall"] for c in chains)
    span = statistics.median(c["span"]["span_seconds"] for c in chains)
    print(f"corpus: {args.corpus} ({pures[0]['files']} audio files), medians of {args.repeat}")
    print(
        f"pure recognition     : {pure:6.1f} s"
        f"  (engine load {load:.1f} s, recognize {recognize:.1f} s)"
    )
    print(f"make e2e's chain     : {wall:6.1f} s  = {wall / pure:.2f}x pure")
    goal = 1.2 * pure + 3
    verdict = "met" if wall <= goal else "missed"
    print(f"goal chain <= 1.2 x pure + 3 s = {goal:.1f} s: {verdict}")
    running = statistics.median(c["wall"] for c in warm)
    verdict = "met" if running <= goal else "missed"
    print(
        f"on a running twin    : {running:6.1f} s  = {running / pure:.2f}x pure ({verdict}):"
        " make e2e with `asr-monitor twin start` up, stack deployed, creation run over"
    )
    scheduled = statistics.median(
        sum(
            stage["seconds"]
            for name, stage in c["stages"].items()
            if list(c["stages"]).index(name) >= list(c["stages"]).index(SCHEDULED_FROM)
        )
        for c in chains
    )
    print(
        f"the scheduled run    : {scheduled:6.1f} s  = {scheduled / pure:.2f}x pure"
        f"  (from '{SCHEDULED_FROM}' on: what each day's run costs after the deploy)"
    )
    # The twin loads its model in the run's first job, so its span holds the load as pure's
    # total does.
    print(
        f"twin's engine span   : {span:6.1f} s  = {span / pure:.2f}x pure load + recognize"
        f" ({'within' if span <= 1.1 * pure else 'outside'} 10%); {span / recognize:.2f}x"
        " recognize alone"
    )
    print("\nstages (median seconds, share of the chain):")
    for name in chains[0]["stages"]:
        seconds = statistics.median(c["stages"][name]["seconds"] for c in chains)
        print(f"  {name:32} {seconds:6.2f} s  {seconds / wall:6.1%}")
    staged = statistics.median(sum(s["seconds"] for s in c["stages"].values()) for c in chains)
    print(f"  {'(outside the stages)':32} {wall - staged:6.2f} s  {(wall - staged) / wall:6.1%}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--pure"]:
        print(json.dumps(pure_recognition(Path(sys.argv[2]))))
    else:
        raise SystemExit(main())
