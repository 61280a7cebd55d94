"""asr-monitor: deploy, run and read the ASR accuracy monitor, on AWS or on the local twin.

Commands act where the environment points boto3 (AWS_ENDPOINT_URL, the region, the
credentials), as the aws CLI and SAM do; --twin acts on this checkout's background twin
(asr-monitor twin start, port 4599). Settings chosen with deploy --guided live in
asr-monitor.toml.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from deploy.cli import history as history_view
from deploy.cli import twin as twin_commands
from deploy.cli.config import CONFIG_ENV, CONFIG_PATH, DeployConfig, guided, merged_parameters
from deploy.cli.invoke import InvokeError, invoke, read_event
from deploy.cli.logs import RunLog, function_log, parse_since
from deploy.cli.output import print_table
from deploy.cli.sample_events import offline_s3_event, schedule_event, stack_s3_event
from deploy.cli.target import Target, resolve_target
from deploy.corpus_upload import upload_corpus
from deploy.errors import InvalidParameterError
from deploy.package import PROJECT_ROOT
from deploy.progress import Reporter, default_reporter
from deploy.repairs import RepairError, remove_repairs
from deploy.run_now import INVOKE_CONFIG, run_now
from deploy.stack import deploy_stack, destroy_stack, plan_stack
from emulation.background.state import DEFAULT_STACK
from emulation.core.errors import EmulationError
from pipeline.aws import Clients
from pipeline.errors import PipelineError

if TYPE_CHECKING:
    from collections.abc import Callable

PROG = "asr-monitor"
OFFLINE_REGION = "us-east-1"  # sam local generate-event's default
# Old names keep working: python -m deploy up | down.
ALIASES = {"deploy": ["up"], "delete": ["down"]}


def parse_params(pairs: Sequence[str]) -> dict[str, str]:
    """``K=V`` pairs into a dict; the value may itself contain ``=`` or be empty."""
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidParameterError(f"--param {pair!r}: expected KEY=VALUE")
        params[key] = value
    return params


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument(
        "--config-file",
        type=Path,
        default=None,
        help=f"deploy settings (default: {CONFIG_PATH.name} in the checkout, or {CONFIG_ENV})",
    )
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument(
        "--stack", help=f"stack name (default: asr-monitor.toml's, else {DEFAULT_STACK})"
    )
    where.add_argument(
        "--twin",
        action="store_true",
        help="act on this checkout's background twin (asr-monitor twin start)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")

    twin = commands.add_parser("twin", help="a local stack that stays up: start | stop | status")
    twin_actions = twin.add_subparsers(dest="action", required=True, metavar="action")
    start = twin_actions.add_parser(
        "start", help="start the twin in the background and deploy the stack into it"
    )
    start.add_argument("--port", type=int, help="default: 4599 (or ASR_TWIN_PORT)")
    start.add_argument("--stack", default=DEFAULT_STACK, help="default: %(default)s")
    twin_actions.add_parser("stop", help="stop it (its instances' processes end)")
    twin_actions.add_parser("status", help="endpoint, stack, instance state, last run")

    deploy = commands.add_parser(
        "deploy",
        aliases=ALIASES["deploy"],
        parents=[where],
        help="package, upload and create or update the stack (on a twin: as make e2e does)",
    )
    deploy.add_argument(
        "--guided",
        action="store_true",
        help="ask for the settings (alert email, schedule, corpus prefix, language) and save "
        "them to asr-monitor.toml for later deploys",
    )
    deploy.add_argument("--dry-run", action="store_true", help="show the change set only")
    deploy.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="template parameter"
    )
    deploy.add_argument("--artifacts-bucket", help="default: asr-monitor-artifacts-<acct>-<region>")
    deploy.add_argument(
        "--project-root", type=Path, default=None, help="checkout to package (default: this)"
    )

    delete = commands.add_parser(
        "delete",
        aliases=ALIASES["delete"],
        parents=[where],
        help="empty the stack's buckets and delete the stack",
    )
    delete.add_argument(
        "--delete-retained",
        action="store_true",
        help="also delete what the stack keeps on deletion: the scores table and log groups",
    )

    upload = commands.add_parser(
        "upload-corpus",
        parents=[where],
        help="check a folder of audio and same-stem .txt references, then upload it under the "
        "stack's CorpusPrefix",
    )
    upload.add_argument("--corpus", required=True, type=Path, help="the local corpus folder")
    upload.add_argument(
        "--delete-extra",
        action="store_true",
        help="delete objects under the prefix that are not in the folder (they would be scored)",
    )

    commands.add_parser(
        "run-now", parents=[where], help="start a run now: invoke the stack's starter"
    )

    call = commands.add_parser(
        "invoke",
        parents=[where],
        help="invoke one of the stack's functions once with an event (like sam local invoke -e)",
    )
    call.add_argument(
        "function", help="logical id (StartNotebookFunction, IngestFunction) or function name"
    )
    call.add_argument("--event", "-e", help="JSON event file ('-': standard input; default {})")

    generate = commands.add_parser(
        "generate-event", help="print an event for invoke (like sam local generate-event)"
    )
    kinds = generate.add_subparsers(dest="kind", required=True, metavar="kind")
    s3 = kinds.add_parser(
        "s3",
        parents=[where],
        help="ObjectCreated:Put for an object (default: the stack's newest scores CSV)",
    )
    s3.add_argument("--bucket", help="with --key: build it offline, without a stack")
    s3.add_argument("--key", help="default: the newest scores/<run_id>.csv of the stack")
    s3.add_argument(
        "--region",
        help="offline: the event's awsRegion (default: the environment's, else "
        "us-east-1, as sam local generate-event)",
    )
    schedule = kinds.add_parser(
        "schedule", parents=[where], help="the Scheduled Event of the stack's rule"
    )
    schedule.add_argument("--rule-arn", help="build it offline for this rule")

    logs = commands.add_parser(
        "logs", parents=[where], help="a run's log (default: the newest), or a function's"
    )
    logs.add_argument("--run-id", help="the run (default: the newest)")
    logs.add_argument(
        "--function", help="a function's CloudWatch Logs instead (logical id or name)"
    )
    logs.add_argument("--since", default="1d", help="with --function: how far back (default 1d)")
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing as the log grows")

    history = commands.add_parser(
        "history", parents=[where], help="the stack's last runs, or one file's WER across them"
    )
    history.add_argument("--runs", type=int, default=10, help="how many (default: 10)")
    history.add_argument("--file", help="one corpus file's history (its key under the prefix)")

    commands.add_parser(
        "e2e",
        help="run the whole chain on the twin (make e2e; uses the background twin when one "
        "runs; see e2e --help)",
        add_help=False,
    )
    return parser


def entry() -> None:
    """The ``asr-monitor`` console script and ``python -m deploy``: ``main``, then exit.

    A twin leaves some 600,000 objects (moto's backends, the speech engine); the interpreter's
    final garbage collections over them took 1.4 s at the end of every ``make e2e``. Frozen, they
    are left to the operating system, as at any process exit; files and processes were closed
    by the commands themselves."""
    status = main()
    gc.freeze()
    sys.exit(status)


def main(argv: Sequence[str] | None = None, reporter: Reporter | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["e2e"]:
        from emulation.cli import main as emulation_main

        return emulation_main(arguments, prog=PROG)
    args = build_parser().parse_args(arguments)
    report = reporter or default_reporter()
    try:
        return _run(args, report)
    except InvokeError as exc:
        if exc.log:
            print(exc.log, file=sys.stderr, end="" if exc.log.endswith("\n") else "\n")
        report.error(exc)
        return 1
    except (PipelineError, EmulationError, ClientError, BotoCoreError) as exc:
        report.error(exc)
        return 1
    except KeyboardInterrupt:
        return 130


def _run(args: argparse.Namespace, report: Reporter) -> int:
    if args.command == "twin":
        return _twin(args, report)
    args.config_file = args.config_file or Path(os.environ.get(CONFIG_ENV) or CONFIG_PATH)
    config = DeployConfig.read(args.config_file)
    if args.command == "generate-event" and _offline_event(args):
        return 0
    if args.command in ("deploy", "up") and args.guided:
        config = _guided(args, config, report)
    target = resolve_target(twin=args.twin, stack=args.stack, config=config)
    command: Callable[[argparse.Namespace, Target, DeployConfig | None, Reporter], int] = {
        "deploy": _deploy,
        "up": _deploy,
        "delete": _delete,
        "down": _delete,
        "upload-corpus": _upload,
        "run-now": _run_now,
        "invoke": _invoke,
        "generate-event": _generate,
        "logs": _logs,
        "history": _history,
    }[args.command]
    return command(args, target, config, report)


# ----------------------------------------------------------------------------- twin
def _twin(args: argparse.Namespace, report: Reporter) -> int:
    if args.action == "start":
        twin_commands.start(port=args.port, stack=args.stack, parameters={}, say=report.info)
        return 0
    if args.action == "stop":
        twin_commands.stop(report.info)
        return 0

    def target_for(state: object) -> Target:
        return resolve_target(twin=True, stack=None)

    found = twin_commands.status(target_for=target_for)
    for line in twin_commands.status_lines(found):
        print(line)
    return 0 if found.state is not None else 3


# ----------------------------------------------------------------------------- deploy
def _guided(
    args: argparse.Namespace, config: DeployConfig | None, report: Reporter
) -> DeployConfig:
    if args.twin:
        region = None
    else:
        region = resolve_target(twin=False, stack=args.stack, config=config).region
    chosen = guided(config, default_stack=args.stack or DEFAULT_STACK, region=region)
    chosen.write(args.config_file)
    report.info(f"saved to {args.config_file}; later deploys read it")
    args.stack = args.stack or chosen.stack_name
    return chosen


def _deploy(
    args: argparse.Namespace, target: Target, config: DeployConfig | None, report: Reporter
) -> int:
    parameters = merged_parameters(config, parse_params(args.param))
    report.info(f"deploying {target.stack} to {target.describe()}")
    if args.dry_run:
        plan_stack(
            Clients(target),
            target.stack,
            parameters,
            artifacts_bucket=args.artifacts_bucket,
            project_root=args.project_root or PROJECT_ROOT,
            reporter=report,
        )
    elif target.twin is not None and target.endpoint:
        if args.project_root or args.artifacts_bucket:
            raise InvalidParameterError(
                "--project-root and --artifacts-bucket are for AWS: a twin is deployed from "
                "this checkout, as make e2e deploys it"
            )
        from emulation.background.process import deploy_to_twin

        deploy_to_twin(target.endpoint, target.region, target.stack, parameters, report.info)
    else:
        deploy_stack(
            Clients(target),
            target.stack,
            parameters,
            artifacts_bucket=args.artifacts_bucket,
            project_root=args.project_root or PROJECT_ROOT,
            reporter=report,
        )
    return 0


def _delete(
    args: argparse.Namespace, target: Target, config: DeployConfig | None, report: Reporter
) -> int:
    if target.twin is not None:  # what the repairs made outside the stack goes first
        try:
            removed = remove_repairs(Clients(target), target.stack)
        except RepairError:
            removed = []  # no such stack: destroy_stack says so
        for repair in removed:
            report.info(f"twin: {repair}")
    destroy_stack(
        Clients(target), target.stack, delete_retained=args.delete_retained, reporter=report
    )
    return 0


# ----------------------------------------------------------------------------- runs
def _upload(
    args: argparse.Namespace, target: Target, config: DeployConfig | None, report: Reporter
) -> int:
    upload_corpus(
        Clients(target), target.stack, args.corpus, delete_extra=args.delete_extra, reporter=report
    )
    return 0


def _run_now(
    args: argparse.Namespace, target: Target, config: DeployConfig | None, report: Reporter
) -> int:
    run_now(
        target.client("cloudformation"),
        target.client("lambda", config=INVOKE_CONFIG),
        target.stack,
        reporter=report,
    )
    return 0


def _invoke(
    args: argparse.Namespace, target: Target, config: DeployConfig | None, report: Reporter
) -> int:
    _, result, log = invoke(target, args.function, read_event(args.event))
    if log:
        print(log, file=sys.stderr, end="" if log.endswith("\n") else "\n")
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


def _offline_event(args: argparse.Namespace) -> bool:
    """Print an event that needs no stack (``--bucket`` and ``--key``, ``--rule-arn``)."""
    if args.kind == "s3" and args.bucket:
        if not args.key:
            raise InvalidParameterError("generate-event s3 --bucket needs --key too")
        region = args.region or boto3.Session().region_name or OFFLINE_REGION
        event = offline_s3_event(args.bucket, args.key, region)
    elif args.kind == "schedule" and args.rule_arn:
        event = schedule_event(None, args.rule_arn)
    else:
        return False
    print(json.dumps(event, indent=2))
    return True


def _generate(
    args: argparse.Namespace, target: Target, config: DeployConfig | None, report: Reporter
) -> int:
    event = stack_s3_event(target, args.key) if args.kind == "s3" else schedule_event(target, None)
    print(json.dumps(event, indent=2))
    return 0


def _logs(
    args: argparse.Namespace, target: Target, config: DeployConfig | None, report: Reporter
) -> int:
    def write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    if args.function:
        function_log(
            target, args.function, since=parse_since(args.since), follow=args.follow, write=write
        )
        return 0
    runs = RunLog(target)
    if args.follow:
        runs.follow(args.run_id, write)
    else:
        runs.show(args.run_id, write)
    return 0


def _history(
    args: argparse.Namespace, target: Target, config: DeployConfig | None, report: Reporter
) -> int:
    if args.runs < 1:
        raise InvalidParameterError(f"--runs must be 1 or more, got {args.runs}")
    found = history_view.stack_history(target, args.runs)
    if not found.runs:
        report.info(f"stack {target.stack} has no run yet")
        return 0
    if args.file:
        rows = history_view.file_rows(found, args.file)
        print_table(
            f"{args.file} in the last {len(rows)} run(s) of {target.stack}",
            history_view.FILE_COLUMNS,
            rows,
        )
        if not any(args.file in files for files in found.files.values()):
            known = sorted({name for files in found.files.values() for name in files})
            report.info(
                f"no run scored {args.file}; files are named by their key under the corpus "
                f"prefix: {', '.join(known[:5]) or 'none'}{' ...' if len(known) > 5 else ''}"
            )
    else:
        rows = history_view.run_rows(found)
        print_table(
            f"the last {len(rows)} run(s) of {target.stack}, oldest first",
            history_view.RUN_COLUMNS,
            rows,
        )
    return 0
