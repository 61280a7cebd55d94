"""``python -m deploy up|upload-corpus|run-now|down --stack NAME``: one tool, AWS or the twin.

The endpoint comes from the environment, as boto3 reads it (AWS_ENDPOINT_URL and the
per-service AWS_ENDPOINT_URL_<SERVICE>), so the same command deploys to AWS or to the twin.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from deploy.corpus_upload import upload_corpus
from deploy.errors import InvalidParameterError
from deploy.package import PROJECT_ROOT
from deploy.progress import Reporter, default_reporter
from deploy.run_now import INVOKE_CONFIG, run_now
from deploy.stack import deploy_stack, destroy_stack, plan_stack, validate_stack_name
from pipeline.aws import Clients
from pipeline.errors import PipelineError


def parse_params(pairs: Sequence[str]) -> dict[str, str]:
    """``K=V`` pairs into a dict; the value may itself contain ``=`` or be empty."""
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidParameterError(f"--param {pair!r}: expected KEY=VALUE")
        params[key] = value
    return params


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m deploy", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="package, upload and create or update the stack")
    up.add_argument("--stack", required=True, help="stack name (lowercase, 2-27 characters)")
    up.add_argument("--dry-run", action="store_true", help="show the change set, execute nothing")
    up.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="template parameter"
    )
    up.add_argument("--artifacts-bucket", help="default: asr-monitor-artifacts-<account>-<region>")
    up.add_argument(
        "--project-root",
        type=Path,
        default=PROJECT_ROOT,
        help="checkout to package (default: this)",
    )
    upload = commands.add_parser(
        "upload-corpus",
        help="check a local folder of audio and same-stem .txt references, then upload it to "
        "the stack's media bucket under its CorpusPrefix",
    )
    upload.add_argument("--stack", required=True)
    upload.add_argument("--corpus", required=True, type=Path, help="the local corpus folder")
    upload.add_argument(
        "--delete-extra",
        action="store_true",
        help="delete objects under the prefix that are not in the folder (they would be scored)",
    )
    now = commands.add_parser("run-now", help="start a run now: invoke the stack's starter")
    now.add_argument("--stack", required=True)
    down = commands.add_parser("down", help="empty the stack's buckets and delete the stack")
    down.add_argument("--stack", required=True)
    down.add_argument(
        "--delete-retained",
        action="store_true",
        help="also delete what the stack keeps on deletion: the scores table and log groups",
    )
    return parser


def main(argv: Sequence[str] | None = None, reporter: Reporter | None = None) -> int:
    args = build_parser().parse_args(argv)
    report = reporter or default_reporter()
    try:
        session = boto3.Session()
        if not session.region_name:
            raise InvalidParameterError("no AWS region: set AWS_DEFAULT_REGION (or AWS_REGION)")
        if args.command == "upload-corpus":
            upload_corpus(
                Clients(session),
                validate_stack_name(args.stack),
                args.corpus,
                delete_extra=args.delete_extra,
                reporter=report,
            )
        elif args.command == "run-now":
            run_now(
                session.client("cloudformation"),
                session.client("lambda", config=INVOKE_CONFIG),
                validate_stack_name(args.stack),
                reporter=report,
            )
        elif args.command == "down":
            destroy_stack(
                session, args.stack, delete_retained=args.delete_retained, reporter=report
            )
        elif args.dry_run:
            plan_stack(
                session,
                args.stack,
                parse_params(args.param),
                artifacts_bucket=args.artifacts_bucket,
                project_root=args.project_root,
                reporter=report,
            )
        else:
            deploy_stack(
                session,
                args.stack,
                parse_params(args.param),
                artifacts_bucket=args.artifacts_bucket,
                project_root=args.project_root,
                reporter=report,
            )
    except (PipelineError, ClientError, BotoCoreError) as exc:
        report.error(exc)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
