"""What moto's SageMaker lacks, written against its state models (and two missing handlers).

moto 5.2.5 has no UpdateNotebookInstance and no ListNotebookInstanceLifecycleConfigs (both end
in NotImplementedError), never reports FailureReason, accepts hooks of any length, keeps the
case of names in ARNs (SageMaker lowercases them, so moto's lookups by ARN miss), and drops
CreateNotebookInstance's PlatformIdentifier, InstanceMetadataServiceConfiguration and
IpAddressType and RootAccess's default. The handlers added here only parse parameters and
call the backend, like moto's own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import botocore.session
from moto.core.responses import ActionResult, EmptyResult
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import FakeSageMakerNotebookInstanceLifecycleConfig, sagemaker_backends
from moto.utilities.paginator import paginate

from emulation.sagemaker.messages import config_missing, hook_too_long

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from moto.sagemaker.models import FakeSagemakerNotebookInstance, SageMakerModelBackend
    from moto.sagemaker.responses import SageMakerResponse

HOOK_MAX_CHARS = 16384
# What DescribeNotebookInstance reports when CreateNotebookInstance did not say (botocore's
# model: "The default value is notebook-al2023-v1"; the minimum IMDS version "defaults to IMDSv1").
DEFAULT_PLATFORM = "notebook-al2023-v1"
DEFAULT_IMDS = {"MinimumInstanceMetadataServiceVersion": "1"}
# botocore's model: RootAccess "The default value is Enabled"; IpAddressType "defaults to ipv4".
DEFAULT_ROOT_ACCESS = "Enabled"
DEFAULT_IP_ADDRESS_TYPE = "ipv4"
PAGINATION_MODEL = {
    "list_notebook_instance_lifecycle_configs": {
        "input_token": "next_token",
        "limit_key": "max_results",
        "limit_default": 100,
        "unique_attribute": "arn",
    }
}
SORT_KEYS = {
    "Name": lambda config: config.notebook_instance_lifecycle_config_name,
    "CreationTime": lambda config: config.creation_time,
    "LastModifiedTime": lambda config: config.last_modified_time,
}


@paginate(pagination_model=PAGINATION_MODEL)
def list_notebook_instance_lifecycle_configs(
    self: SageMakerModelBackend,
    sort_by: str = "CreationTime",
    sort_order: str = "Ascending",
    name_contains: str | None = None,
) -> list[FakeSageMakerNotebookInstanceLifecycleConfig]:
    """Backend method: filter by name, sort (AWS's default is CreationTime), paginate."""
    if sort_by not in SORT_KEYS:
        raise ValidationError(
            f"Value '{sort_by}' at 'sortBy' failed to satisfy constraint: Member must satisfy "
            f"enum value set: [{', '.join(SORT_KEYS)}]"
        )
    configs = [
        config
        for name, config in self.notebook_instance_lifecycle_configurations.items()
        if not name_contains or name_contains in name
    ]
    return sorted(configs, key=SORT_KEYS[sort_by], reverse=sort_order == "Descending")


def list_notebook_instance_lifecycle_configs_handler(self: SageMakerResponse) -> ActionResult:
    configs, next_token = self.sagemaker_backend.list_notebook_instance_lifecycle_configs(
        sort_by=self._get_param("SortBy", "CreationTime"),
        sort_order=self._get_param("SortOrder", "Ascending"),
        name_contains=self._get_param("NameContains"),
        max_results=self._get_param("MaxResults"),
        next_token=self._get_param("NextToken"),
    )
    summaries = [
        {
            "NotebookInstanceLifecycleConfigName": config.notebook_instance_lifecycle_config_name,
            "NotebookInstanceLifecycleConfigArn": config.arn,
            "CreationTime": config.creation_time,
            "LastModifiedTime": config.last_modified_time,
        }
        for config in configs
    ]
    return ActionResult({"NotebookInstanceLifecycleConfigs": summaries, "NextToken": next_token})


def update_notebook_instance_handler(self: SageMakerResponse) -> ActionResult:
    self.sagemaker_backend.update_notebook_instance(
        notebook_instance_name=self._get_param("NotebookInstanceName"),
        instance_type=self._get_param("InstanceType"),
        role_arn=self._get_param("RoleArn"),
        lifecycle_config_name=self._get_param("LifecycleConfigName"),
        disassociate_lifecycle_config=self._get_param("DisassociateLifecycleConfig"),
        volume_size_in_gb=self._get_param("VolumeSizeInGB"),
        default_code_repository=self._get_param("DefaultCodeRepository"),
        additional_code_repositories=self._get_param("AdditionalCodeRepositories"),
        disassociate_default_code_repository=self._get_param("DisassociateDefaultCodeRepository"),
        disassociate_additional_code_repositories=self._get_param(
            "DisassociateAdditionalCodeRepositories"
        ),
        root_access=self._get_param("RootAccess"),
    )
    return EmptyResult()


def apply_update(
    backend: SageMakerModelBackend,
    instance: FakeSagemakerNotebookInstance,
    *,
    instance_type: str | None = None,
    role_arn: str | None = None,
    lifecycle_config_name: str | None = None,
    disassociate_lifecycle_config: bool | None = None,
    volume_size_in_gb: int | None = None,
    default_code_repository: str | None = None,
    additional_code_repositories: list[str] | None = None,
    disassociate_default_code_repository: bool | None = None,
    disassociate_additional_code_repositories: bool | None = None,
    root_access: str | None = None,
) -> None:
    """Validate every change first, then write them to the instance's model."""
    if lifecycle_config_name and (
        lifecycle_config_name not in backend.notebook_instance_lifecycle_configurations
    ):
        raise ValidationError(config_missing(lifecycle_config_arn(backend, lifecycle_config_name)))
    if instance_type is not None:
        instance.validate_instance_type(instance_type)
        instance.instance_type = instance_type
    if volume_size_in_gb is not None:
        instance.validate_volume_size_in_gb(volume_size_in_gb)
        instance.volume_size_in_gb = volume_size_in_gb
    if role_arn is not None:
        instance.role_arn = role_arn
    if lifecycle_config_name:
        instance.lifecycle_config_name = lifecycle_config_name
    if disassociate_lifecycle_config:
        instance.lifecycle_config_name = None
    if default_code_repository is not None:
        instance.default_code_repository = default_code_repository
    if disassociate_default_code_repository:
        instance.default_code_repository = None
    if additional_code_repositories is not None:
        instance.additional_code_repositories = additional_code_repositories
    if disassociate_additional_code_repositories:
        instance.additional_code_repositories = None
    if root_access is not None:
        instance.root_access = root_access


def with_description(
    to_dict: Callable[[FakeSagemakerNotebookInstance], dict[str, Any]],
) -> Callable[[FakeSagemakerNotebookInstance], dict[str, Any]]:
    """DescribeNotebookInstance as AWS answers it: FailureReason while Failed, RootAccess's
    default, and the platform, IMDS and IP settings moto drops."""

    def described(instance: FakeSagemakerNotebookInstance) -> dict[str, Any]:
        description = to_dict(instance)
        reason = getattr(instance, "failure_reason", None)
        if reason and instance.status == "Failed":
            description["FailureReason"] = reason
        description["RootAccess"] = instance.root_access or DEFAULT_ROOT_ACCESS
        description["PlatformIdentifier"] = getattr(
            instance, "platform_identifier", DEFAULT_PLATFORM
        )
        description["InstanceMetadataServiceConfiguration"] = getattr(
            instance, "instance_metadata_service_configuration", DEFAULT_IMDS
        )
        description["IpAddressType"] = getattr(instance, "ip_address_type", DEFAULT_IP_ADDRESS_TYPE)
        return description

    return described


def with_hook_checks(create: Callable[..., Any]) -> Callable[..., Any]:
    """AWS refuses a hook longer than 16384 characters (moto stores anything), and names the
    configuration by its lowercased ARN."""

    def create_checked(
        backend: SageMakerModelBackend,
        notebook_instance_lifecycle_config_name: str,
        on_create: list[dict[str, str]] | None,
        on_start: list[dict[str, str]] | None,
    ) -> Any:
        for hooks, location in ((on_create, "onCreate"), (on_start, "onStart")):
            for position, hook in enumerate(hooks or [], start=1):
                content = hook.get("Content") or ""
                if len(content) > HOOK_MAX_CHARS:
                    raise ValidationError(
                        hook_too_long(f"{location}.{position}.member.content", len(content))
                    )
        name = notebook_instance_lifecycle_config_name
        if name in backend.notebook_instance_lifecycle_configurations:
            raise ValidationError(
                f"Unable to create Notebook Instance Lifecycle Config "
                f"{lifecycle_config_arn(backend, name)}. (Details: Notebook Instance Lifecycle "
                "Config already exists.)"
            )
        config = create(backend, name, on_create, on_start)
        config.arn = config.arn.lower()
        return config

    return create_checked


def by_arn(models: Mapping[str, Any], arn: str) -> str:
    """The name of the instance or configuration an ARN names (its name lowercased in the ARN,
    so not found by splitting it)."""
    for name, model in models.items():
        if model.arn == arn.lower():
            return name
    raise ValidationError(message="RecordNotFound")


def with_instances_by_arn(get: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
    """AddTags, ListTags and DeleteTags name a notebook instance by its ARN, which lowercases
    its name: found by ARN (moto splits the ARN and misses a name with capitals)."""

    def found(backend: SageMakerModelBackend, arn: str) -> Any:
        if arn.split(":")[-1].startswith("notebook-instance/"):
            return backend.notebook_instances[by_arn(backend.notebook_instances, arn)]
        return get(backend, arn)

    return found


def delete_config_from_cloudformation_json(
    cls: type, resource_name: str, cloudformation_json: Any, account_id: str, region: str
) -> None:
    """CloudFormation deletes a lifecycle configuration by its physical id, the ARN."""
    backend = sagemaker_backends[account_id][region]
    name = by_arn(backend.notebook_instance_lifecycle_configurations, resource_name)
    backend.delete_notebook_instance_lifecycle_config(name)


def lifecycle_config_arn(backend: SageMakerModelBackend, name: str) -> str:
    """The configuration's ARN, its name lowercased as SageMaker writes it."""
    return FakeSageMakerNotebookInstanceLifecycleConfig.arn_formatter(
        name, backend.account_id, backend.region_name
    ).lower()


@cache
def _shape(shape: str) -> Any:
    """A shape of botocore's SageMaker model (the values AWS accepts)."""
    return botocore.session.get_session().get_service_model("sagemaker").shape_for(shape)


def _pattern(shape: str) -> str:
    return str(_shape(shape).metadata["pattern"])


def _check_enum(value: str, shape: str, location: str) -> None:
    allowed = list(_shape(shape).enum)
    if value not in allowed:
        raise ValidationError(
            f"1 validation error detected: Value '{value}' at '{location}' failed to satisfy "
            f"constraint: Member must satisfy enum value set: [{', '.join(allowed)}]"
        )


def _check_pattern(value: str, shape: str, location: str) -> None:
    pattern = _pattern(shape)
    if not re.fullmatch(pattern, value):
        raise ValidationError(
            f"1 validation error detected: Value '{value}' at '{location}' failed to satisfy "
            f"constraint: Member must satisfy regular expression pattern: {pattern}"
        )


@dataclass(frozen=True)
class CreateSettings:
    """The platform, IMDS and IP settings of a new instance, which moto drops: checked against
    botocore's model, then kept on the instance so DescribeNotebookInstance reports them."""

    platform: str
    imds_version: str
    ip_address_type: str

    @classmethod
    def read(cls, get: Callable[[str], Any]) -> CreateSettings:
        """From the request's parameters (or a template's properties), checked as AWS checks."""
        platform = get("PlatformIdentifier") or DEFAULT_PLATFORM
        imds = get("InstanceMetadataServiceConfiguration") or DEFAULT_IMDS
        ip_address_type = get("IpAddressType") or DEFAULT_IP_ADDRESS_TYPE
        _check_pattern(platform, "PlatformIdentifier", "platformIdentifier")
        version = str(imds.get("MinimumInstanceMetadataServiceVersion", ""))
        _check_pattern(
            version,
            "MinimumInstanceMetadataServiceVersion",
            "instanceMetadataServiceConfiguration.minimumInstanceMetadataServiceVersion",
        )
        _check_enum(ip_address_type, "IPAddressType", "ipAddressType")
        return cls(platform, version, ip_address_type)

    def apply(self, instance: FakeSagemakerNotebookInstance) -> None:
        instance.platform_identifier = self.platform
        instance.instance_metadata_service_configuration = {
            "MinimumInstanceMetadataServiceVersion": self.imds_version
        }
        instance.ip_address_type = self.ip_address_type


def with_create_settings(
    create: Callable[[SageMakerResponse], ActionResult],
) -> Callable[[SageMakerResponse], ActionResult]:
    """CreateNotebookInstance keeps the platform, IMDS and IP settings moto drops (checked
    against the model first), so DescribeNotebookInstance reports them."""

    def create_with_settings(self: SageMakerResponse) -> ActionResult:
        settings = CreateSettings.read(self._get_param)
        result = create(self)
        settings.apply(
            self.sagemaker_backend.get_notebook_instance(self._get_param("NotebookInstanceName"))
        )
        return result

    return create_with_settings
