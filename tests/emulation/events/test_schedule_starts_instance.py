"""A scheduled rule fired now -> the real starter Lambda (from the packaged zip) -> InService.

This is the first link of the chain on the twin's parts together: scheduler, Lambda runtime
and notebook-instance host, with the project's own handler, not a test double.
"""

from __future__ import annotations

import base64
import time

from deploy.package import lambda_zip
from emulation.awslambda.runtime import LambdaRuntime
from emulation.core.inspector import Inspector
from emulation.events.scheduler import Scheduler
from emulation.sagemaker.notebook_host import NotebookHost

# AWS's paths (the twin's namespace provides them; without one, the variables point there).
HOOK = """#!/bin/bash
set -eu
name=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ResourceName"])' \\
  "${NOTEBOOK_METADATA_FILE:-/opt/ml/metadata/resource-metadata.json}")
echo "hook ran for $name" > "${SAGEMAKER_HOME:-/home/ec2-user/SageMaker}/started-by-schedule.txt"
"""


def wait_for(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_fired_rule_runs_the_starter_which_starts_the_instance(twin, lambda_role, notebook_role):
    sagemaker, lambdas, events = (twin.client(s) for s in ("sagemaker", "lambda", "events"))
    role = lambda_role
    sagemaker.create_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName="on-start",
        OnStart=[{"Content": base64.b64encode(HOOK.encode()).decode()}],
    )
    sagemaker.create_notebook_instance(
        NotebookInstanceName="nb",
        InstanceType="ml.t3.medium",
        RoleArn=notebook_role,
        LifecycleConfigName="on-start",
    )
    # Creating runs OnStart too; a scheduled start only makes sense from Stopped.
    host = twin.part(NotebookHost)
    host.wait_for_status("nb", "InService")
    marker = host.sandbox("nb").sagemaker_home / "started-by-schedule.txt"
    marker.unlink()
    sagemaker.stop_notebook_instance(NotebookInstanceName="nb")
    host.wait_for_status("nb", "Stopped")
    function_arn = lambdas.create_function(
        FunctionName="starter",
        Runtime="python3.11",
        Role=role,
        Handler="pipeline.handlers.start_notebook.handler",
        Code={"ZipFile": lambda_zip()},
        Environment={"Variables": {"NOTEBOOK_INSTANCE_NAME": "nb"}},
        Timeout=30,
    )["FunctionArn"]
    rule_arn = events.put_rule(Name="nightly", ScheduleExpression="cron(0 6 * * ? *)")["RuleArn"]
    events.put_targets(Rule="nightly", Targets=[{"Id": "starter", "Arn": function_arn}])
    lambdas.add_permission(
        FunctionName="starter",
        StatementId="events",
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn=rule_arn,
    )

    twin.part(Scheduler).fire("nightly")

    host.wait_for_status("nb", "InService", timeout=30)
    twin.part(LambdaRuntime).wait_idle(timeout=30)
    [invocation] = Inspector(twin).invocations("starter")
    assert invocation.source == "schedule"
    assert invocation.event["detail-type"] == "Scheduled Event"
    assert invocation.event["resources"] == [rule_arn]
    assert invocation.result["action"] == "started"
    assert invocation.result["previous_status"] == "Stopped"
    assert wait_for(marker.exists)
    assert marker.read_text() == "hook ran for nb\n"
    statuses = [t.to_status for t in host.transitions if t.instance == "nb"]
    assert statuses[-2:] == ["Pending", "InService"]
