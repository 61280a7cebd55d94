"""SageMaker's own wording for refused transitions and failed hooks, so clients can match on it."""

from __future__ import annotations

# AWS caps FailureReason at 1024 characters.
FAILURE_REASON_MAX = 1024
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


def hook_timed_out(config_arn: str, instance_arn: str, limit_seconds: float) -> str:
    """AWS's FailureReason for a hook that ran past the limit (300 s reads "5 minutes")."""
    return (
        f"Notebook Instance Lifecycle Config '{config_arn}' for Notebook Instance "
        f"'{instance_arn}' took longer than {_duration(limit_seconds)}. {CLOUDWATCH_HINT}"
    )


def hook_failed(config_arn: str, instance_arn: str, exit_code: int, log_tail: str) -> str:
    """FailureReason for a hook that exited non-zero, with the end of its log (AWS caps length).

    AWS is reported to word this case like a timeout; naming the exit code and the log tail
    tells the user more, and the prefix still matches AWS's.
    """
    head = (
        f"Notebook Instance Lifecycle Config '{config_arn}' for Notebook Instance "
        f"'{instance_arn}' failed with exit code {exit_code}. {CLOUDWATCH_HINT}"
    )
    if not log_tail.strip():
        return head[:FAILURE_REASON_MAX]
    room = FAILURE_REASON_MAX - len(head) - len(" Log tail: ")
    return f"{head} Log tail: {log_tail.strip()[-room:]}" if room > 0 else head


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
