"""SageMaker's CloudFormation resources created as AWS creates them (moto 5.2.5 does not).

moto creates ``AWS::SageMaker::NotebookInstance`` and ``NotebookInstanceLifecycleConfig``
under generated names, ignoring the declared ``NotebookInstanceName`` and
``NotebookInstanceLifecycleConfigName``, and creates the instance with its type and role alone:
no lifecycle configuration attached, no root-access, volume, network, platform or IMDS setting.
A deploy then had to stop moto's instance and create the declared one through the API (two
instance starts, a second OnStart run). With these models the engine creates what the template
declares, through the same backend calls as the API (so the notebook host boots the instance
and runs its hooks, the creation run), and the repairs in ``deploy.repairs`` find nothing to do.
Sources: the CloudFormation resource reference for both types (properties, name properties).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.sagemaker.models import (
    FakeSagemakerNotebookInstance,
    FakeSageMakerNotebookInstanceLifecycleConfig,
    sagemaker_backends,
)

from emulation.sagemaker.moto_additions import CreateSettings

INSTANCE_NAME = "NotebookInstanceName"
CONFIG_NAME = "NotebookInstanceLifecycleConfigName"
# Template property -> moto's create_notebook_instance argument.
INSTANCE_ARGUMENTS = {
    "LifecycleConfigName": "lifecycle_config_name",
    "DirectInternetAccess": "direct_internet_access",
    "RootAccess": "root_access",
    "VolumeSizeInGB": "volume_size_in_gb",
    "KmsKeyId": "kms_key_id",
    "SubnetId": "subnet_id",
    "SecurityGroupIds": "security_group_ids",
    "AcceleratorTypes": "accelerator_types",
    "DefaultCodeRepository": "default_code_repository",
    "AdditionalCodeRepositories": "additional_code_repositories",
    "Tags": "tags",
}


def create_instance_from_cloudformation_json(
    cls: type,
    resource_name: str,
    cloudformation_json: dict[str, Any],
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> Any:
    """The declared instance with every property, under its declared name (``resource_name``,
    which the engine takes from NotebookInstanceName once the model names that property)."""
    properties = cloudformation_json["Properties"]
    settings = CreateSettings.read(properties.get)
    arguments = {
        argument: properties[prop]
        for prop, argument in INSTANCE_ARGUMENTS.items()
        if prop in properties
    }
    if "volume_size_in_gb" in arguments:
        arguments["volume_size_in_gb"] = int(arguments["volume_size_in_gb"])
    backend = sagemaker_backends[account_id][region_name]
    instance = backend.create_notebook_instance(
        notebook_instance_name=resource_name,
        instance_type=properties["InstanceType"],
        role_arn=properties["RoleArn"],
        **arguments,
    )
    settings.apply(instance)
    return instance


def create_config_from_cloudformation_json(
    cls: type,
    resource_name: str,
    cloudformation_json: dict[str, Any],
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> Any:
    """The lifecycle configuration under its declared name (``resource_name``)."""
    properties = cloudformation_json.get("Properties", {})
    return sagemaker_backends[account_id][region_name].create_notebook_instance_lifecycle_config(
        notebook_instance_lifecycle_config_name=resource_name,
        on_create=properties.get("OnCreate"),
        on_start=properties.get("OnStart"),
    )


def instance_name_type() -> str:
    return INSTANCE_NAME


def config_name_type() -> str:
    return CONFIG_NAME


def declared_names(patch: Callable[[Any, str, Any], None]) -> None:
    """Install both models' name property and create (``patch``: the part's Patches.replace)."""
    for model, name_type, create in (
        (
            FakeSagemakerNotebookInstance,
            instance_name_type,
            create_instance_from_cloudformation_json,
        ),
        (
            FakeSageMakerNotebookInstanceLifecycleConfig,
            config_name_type,
            create_config_from_cloudformation_json,
        ),
    ):
        patch(model, "cloudformation_name_type", staticmethod(name_type))
        patch(model, "create_from_cloudformation_json", classmethod(create))
