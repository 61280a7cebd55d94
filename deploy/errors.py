"""The deploy path's own errors: each names the file, stack, resource or parameter at fault."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.errors import ConfigurationError, PipelineError


class DeployError(PipelineError):
    """Deploying or deleting the stack failed."""


class MissingOutputsError(DeployError):
    """The stack deployed but reports no value for outputs the template declares (an emulator
    whose engine drops some); ``missing`` names them."""

    def __init__(self, stack_name: str, missing: list[str]) -> None:
        self.stack_name = stack_name
        self.missing = missing
        super().__init__(
            f"stack {stack_name} reports no value for declared output(s) {', '.join(missing)}"
        )


class InvalidParameterError(ConfigurationError):
    """A stack name or template parameter given on the command line or API is unusable."""


class PackagingError(DeployError):
    """An artifact (Lambda zip, notebook, on-start script) is missing or unusable."""


class TemplateError(DeployError):
    """The template uses something this project's template reader cannot evaluate."""


@dataclass(frozen=True)
class ResourceFailure:
    """One resource CloudFormation failed on, with the reason from the stack's events."""

    logical_id: str
    resource_type: str
    status: str
    reason: str

    def __str__(self) -> str:
        return f"{self.logical_id} ({self.resource_type}) {self.status}: {self.reason}"


class StackOperationError(DeployError):
    """A create, update or delete ended in a failed state; carries the failing resources."""

    def __init__(
        self, stack_name: str, status: str, failures: list[ResourceFailure], detail: str = ""
    ) -> None:
        self.stack_name = stack_name
        self.status = status
        self.failures = failures
        self.detail = detail
        lines = [f"stack {stack_name}: {status}" + (f": {detail}" if detail else "")]
        lines += [f"  {failure}" for failure in failures]
        super().__init__("\n".join(lines))
