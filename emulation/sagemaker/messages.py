"""SageMaker's own wording for refused transitions and failed hooks, so clients can match on it."""

from __future__ import annotations

CLOUDWATCH_HINT = (
    "Please check your CloudWatch logs for more details if your Notebook Instance has "
    "Internet access."
)


def transition_refused(status: str, allowed: list[str], target: str, instance_arn: str) -> str:
    """e.g. Status (InService) not in ([Stopped, Failed]). Unable to transition to (Pending) ..."""
    return (
        f"Status ({status}) not in ([{', '.join(allowed)}]). Unable to transition to ({target}) "
        f"for Notebook Instance ({instance_arn})"
    )


def hook_failed(config_arn: str, instance_arn: str, limit_seconds: float) -> str:
    """AWS's FailureReason for a lifecycle hook that failed: the same sentence whether the
    script exited non-zero or ran past the limit (300 s reads "5 minutes"). Public reports show
    it for scripts that ended at once: a CRLF "bad interpreter" (aws-samples/amazon-sagemaker-
    notebook-instance-lifecycle-config-samples#86), "initctl: command not found" in OnCreate
    (outerbounds/metaflow-tools#28), a failed `cd` (aws-samples/amazon-sagemaker-optuna-hpo-
    blog#4). What went wrong is in the hook's log stream, where the sentence points."""
    return (
        f"Notebook Instance Lifecycle Config '{config_arn}' for Notebook Instance "
        f"'{instance_arn}' took longer than {_duration(limit_seconds)}. {CLOUDWATCH_HINT}"
    )


def config_missing(config_arn: str) -> str:
    return (
        f"Unable to describe Notebook Instance Lifecycle Config '{config_arn}'. "
        "(Details: Notebook Instance Lifecycle Config does not exist.)"
    )


def hook_too_long(location: str, length: int) -> str:
    return (
        f"1 validation error detected: Value of length {length} at '{location}' failed to "
        "satisfy constraint: Member must have length less than or equal to 16384"
    )


def _duration(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        minutes = int(seconds // 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds:g} second{'s' if seconds != 1 else ''}"


def role_not_assumable(role_arn: str) -> str:
    """SageMaker cannot assume the instance's role (its CreateNotebookInstance wording)."""
    return (
        f"Could not assume role {role_arn}. Please ensure that the role exists and allows "
        "principal 'sagemaker.amazonaws.com' to assume the role."
    )
