"""TWIN_IAM=off (TwinConfig.iam False): role sessions may do anything, and nothing is recorded.

A module of its own: a process holds one installed twin at a time, and test_authorizer keeps
an enforcing one for its module.
"""

from __future__ import annotations

from emulation.core.build import TwinConfig, build_twin
from emulation.core.inspector import Inspector
from tests.emulation.iam.test_authorizer import client, role_session


def test_enforcement_off_lets_a_role_do_anything_and_records_nothing() -> None:
    with build_twin(TwinConfig(parts=("iam",), iam=False)) as twin:
        session = role_session(twin)
        client(twin, session, "dynamodb").list_tables()
        twin.client("s3").create_bucket(Bucket="open-bucket")
        client(twin, session, "s3").put_object(Bucket="open-bucket", Key="k", Body=b"x")
        assert Inspector(twin).access_denials() == []


def test_with_iam_off_every_line_serve_and_e2e_print_says_so(capsys) -> None:
    import io
    import logging

    from rich.console import Console
    from rich.table import Table

    from emulation.cli import _announce, configure_logging
    from emulation.core.build import IAM_OFF_LABEL
    from emulation.e2e.cli import LabelledConsole

    with build_twin(TwinConfig(parts=("iam",), iam=False)) as twin:
        _announce(twin, twin.env(), 0.1, IAM_OFF_LABEL)
    root, ours = logging.getLogger(), logging.getLogger("emulation")
    saved = (root.handlers[:], root.level, ours.level)
    try:
        configure_logging(label=IAM_OFF_LABEL)
        logging.getLogger("emulation.iam").warning("a line the twin logs")
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
        ours.setLevel(saved[2])
    printed = capsys.readouterr()
    lines = [line for line in (printed.out + printed.err).splitlines() if line]
    assert lines and all("IAM enforcement OFF" in line for line in lines), lines

    buffer = io.StringIO()
    console = LabelledConsole(Console(file=buffer, width=60), IAM_OFF_LABEL)
    table = Table("file", "WER")
    table.add_row("clip01.wav", "21.4%")
    console.print(table)
    console.print("[stage] deploy ok", markup=False)
    assert all(line.startswith(IAM_OFF_LABEL) for line in buffer.getvalue().splitlines())
