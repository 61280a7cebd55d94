"""``python -m emulation <command>``: ``serve`` runs the twin until Ctrl-C; ``e2e`` runs the chain.

``serve`` prints the endpoint and the ``export`` lines a shell needs, then shows what happens
(invocations, schedules, errors with tracebacks) as it happens: rich output on a terminal,
plain log lines otherwise. It runs the twin as ``make e2e`` does (the instance's Python is this
environment's, the speech engine chosen), so a stack deployed into it runs. ``asr-monitor twin
start`` runs it in the background. ``serve --backend localstack`` (or TWIN=localstack, as in the
twin's container) serves only SageMaker and Transcribe, beside LocalStack (docs/docker.md).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from emulation.core.backends import backend_names, get_backend
from emulation.core.build import IAM_OFF_LABEL, TwinConfig, build_twin, config_for_backend
from emulation.core.inspector import Inspector
from emulation.core.twin import DEFAULT_REGION, Twin, export_lines
from emulation.e2e import cli as e2e_cli
from emulation.e2e.chain import E2EOptions, twin_config
from emulation.events.scheduler import Scheduler
from emulation.iam.authorizer import IamEnforcement


def main(argv: Sequence[str] | None = None, prog: str = "python -m emulation") -> int:
    """``prog``: the name --help shows (``asr-monitor`` hands its ``e2e`` here)."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    serve = commands.add_parser("serve", help="run the twin until Ctrl-C (make twin)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0: all)")
    serve.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    serve.add_argument("--region", default=DEFAULT_REGION)
    serve.add_argument("--debug", action="store_true", help="also show debug logs")
    serve.add_argument(
        "--backend",
        choices=backend_names(),
        default=None,
        help="what serves the other AWS services (default: TWIN, else embedded)",
    )
    serve.add_argument(
        "--engine", default=E2EOptions.engine, help="the speech engine behind Transcribe"
    )
    serve.add_argument(
        "--sandbox",
        type=Path,
        default=None,
        help="folder standing in for the instances' disks, removed at exit (default: a "
        "temporary one)",
    )
    e2e = commands.add_parser(
        "e2e",
        help="run the whole chain once on the twin (make e2e)",
        description="Deploy the stack, upload the corpus, fire the schedule and follow the run "
        "to its message, then print the scores. Uses the background twin when `asr-monitor "
        "twin start` runs one (its stack, its history), else a twin of its own.",
    )
    e2e_cli.add_arguments(e2e)
    args = parser.parse_args(argv)
    if args.command == "e2e":
        return e2e_cli.run(args)
    return serve_forever(
        config_for_backend(serve_config(args), args.backend), debug=args.debug, backend=args.backend
    )


def serve_config(args: argparse.Namespace) -> TwinConfig:
    """The e2e twin's settings (``twin_config``) on the given address; the sandbox is the
    twin's own, removed when it stops."""
    sandbox = args.sandbox or Path(tempfile.mkdtemp(prefix="twin-notebooks-"))
    sandbox.mkdir(parents=True, exist_ok=True)
    config = twin_config(E2EOptions(engine=args.engine), sandbox.resolve())
    notebooks = replace(config.sagemaker, temporary=True) if config.sagemaker else None
    return replace(config, region=args.region, port=args.port, host=args.host, sagemaker=notebooks)


def configure_logging(debug: bool = False, label: str = "") -> None:
    """Rich, colourful lines on a terminal; plain timestamped lines in CI or a pipe. Each line
    starts with ``label`` (IAM enforcement off)."""
    level = logging.DEBUG if debug else logging.INFO
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(
            console=Console(stderr=True), show_path=False, markup=False, log_time_format="%X"
        )
        handler.setFormatter(logging.Formatter(f"{label}%(name)s: %(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            logging.Formatter(f"{label}%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)  # other libraries: warnings only
    logging.getLogger("emulation").setLevel(level)


def serve_forever(config: TwinConfig, *, debug: bool = False, backend: str | None = None) -> int:
    """Run the twin until Ctrl-C or SIGTERM; ``backend`` (default TWIN) only sets what the
    announced environment routes where (``config`` already holds the backend's parts)."""
    started = time.monotonic()
    twin = build_twin(config)
    iam = twin.find_part(IamEnforcement)
    label = "" if iam is not None and iam.enabled else IAM_OFF_LABEL
    configure_logging(debug, label)
    twin.start()
    try:
        scheduler = twin.find_part(Scheduler)
        if scheduler is not None:
            scheduler.start()
        env = get_backend(backend).client_env(twin.endpoint_url)
        _announce(twin, env, time.monotonic() - started, label)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    finally:
        # Counted before stop(): stopping resets the parts, and with them what they recorded.
        invocations, errors = len(Inspector(twin).invocations()), len(twin.errors)
        denied = len(Inspector(twin).access_denials())
        twin.stop()
    print(
        f"{label}twin stopped: {invocations} Lambda invocation(s), {errors} error(s), "
        f"{denied} AccessDenied",
        file=sys.stderr,
    )
    return 0


def _announce(twin: Twin, env: dict[str, str], seconds: float, label: str = "") -> None:
    """The endpoint and the export lines on stdout (copyable: with IAM off, the label follows
    each export as a shell comment); the rest on stderr."""
    parts = ", ".join(twin.parts) or "none"
    iam = "IAM enforced for role sessions" if not label else "IAM enforcement OFF"
    exports = [f"{line}  # {label.strip()}" if label else line for line in export_lines(env)]
    if sys.stdout.isatty():
        from rich.console import Console

        console = Console()
        console.print(
            f"{label}[bold green]twin ready[/] at [bold]{twin.endpoint_url}[/] in {seconds:.2f} s "
            f"(parts: {parts}; {iam}). Ctrl-C stops it. In another shell:",
            highlight=False,
        )
        for line in exports:
            console.print(line, style="cyan", highlight=False, soft_wrap=True, markup=False)
    else:
        print(
            f"{label}twin ready at {twin.endpoint_url} in {seconds:.2f} s (parts: {parts}; {iam})"
        )
        print("\n".join(exports))
    sys.stdout.flush()
