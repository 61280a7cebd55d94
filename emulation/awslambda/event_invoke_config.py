"""CloudFormation for the asynchronous-invocation settings the Lambda runtime honours.

moto 5.2.5 has no model for ``AWS::Lambda::EventInvokeConfig`` (it warns and skips it), so a
template's retry count and on-failure destination would silently not exist in the twin. This
module adds the model, built on moto's own ``put_function_event_invoke_config``; moto finds it
among ``CloudFormationModel``'s subclasses once this module is imported. (Function-level
``DeadLetterConfig``, which moto's CloudFormation path drops, is kept by the runtime's patches.)
"""

from __future__ import annotations

import sys
from typing import Any

from moto.awslambda.models import lambda_backends
from moto.core.common_models import CloudFormationModel

SETTINGS = ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")


class EventInvokeConfigResource(CloudFormationModel):
    """One function's EventInvokeConfig, created, replaced and deleted with its stack."""

    def __init__(self, function_name: str, qualifier: str) -> None:
        self.function_name = function_name
        self.qualifier = qualifier

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::EventInvokeConfig"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    @property
    def physical_resource_id(self) -> str:
        return f"{self.function_name}:{self.qualifier}"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> EventInvokeConfigResource:
        properties = cloudformation_json["Properties"]
        config = {key: properties[key] for key in SETTINGS if key in properties}
        for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
            if key in config:  # template values may arrive as strings
                config[key] = int(config[key])
        backend = lambda_backends[account_id][region_name]
        backend.put_function_event_invoke_config(properties["FunctionName"], config)
        return cls(properties["FunctionName"], properties.get("Qualifier", "$LATEST"))

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls,
        original_resource: EventInvokeConfigResource,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> EventInvokeConfigResource:
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        function_name = cloudformation_json["Properties"]["FunctionName"]
        lambda_backends[account_id][region_name].delete_function_event_invoke_config(function_name)

    def delete(self, account_id: str, region_name: str) -> None:
        backend = lambda_backends[account_id][region_name]
        backend.delete_function_event_invoke_config(self.function_name)

    def is_created(self) -> bool:
        return True


def register() -> None:
    """Make moto's CloudFormation see the model even if it listed the models before import.

    moto lists the models lazily (and caches the list); importing its parser here would cost
    a second of start-up, so only an already-imported parser is told to list them again.
    """
    parsing = sys.modules.get("moto.cloudformation.parsing")
    if parsing is not None:
        for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
            cached.cache_clear()
