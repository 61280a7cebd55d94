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
