"""Physical names and labels come from one place and hold on every resource of every stack."""

from __future__ import annotations

import importlib
import inspect
import re
from typing import Any

import pytest

import stack_config
from components.naming import Naming
from offline.engine import Recording

REQUIRED_LABELS = ("environment", "managed-by", "cost-center", "component")


def test_physical_names_carry_prefix_and_environment() -> None:
    assert Naming("acme", "prod").physical("vpc") == "acme-prod-vpc"


def test_physical_names_are_sanitized() -> None:
    assert Naming("acme", "dev").physical("Orders_DB", "eu.west") == "acme-dev-orders-db-eu-west"


def test_long_names_are_cut_with_a_hash_that_keeps_them_distinct() -> None:
    naming = Naming("acme", "staging")
    a = naming.physical("a-very-long-service-name-for-orders", max_length=30)
    b = naming.physical("a-very-long-service-name-for-payments", max_length=30)
    assert len(a) <= 30
    assert len(b) <= 30
    assert a != b
    assert re.fullmatch(r"[a-z][a-z0-9-]*[a-z0-9]", a)


def test_stack_labels_include_environment_owner_and_cost_center(config: stack_config.StackConfig, stack: str) -> None:
    labels = config.naming(stack).labels_for("network")
    assert labels["environment"] == stack
    assert labels["managed-by"] == "pulumi"
    assert labels["cost-center"] == config.cost_center
    assert labels["component"] == "network"
    for key, value in config.labels.items():
        assert labels[key] == value


def _label_field(type_token: str) -> str | None:
    """Where a type keeps its resource labels: `userLabels` where the provider has it (in monitoring, `labels` is the
    channel's configuration), Cloud SQL's `settings.userLabels`, else `labels`; None for types without labels."""
    package, module, name = type_token.split(":")
    if package != "gcp":
        return None
    if type_token == "gcp:sql/databaseInstance:DatabaseInstance":
        return "settings.userLabels"
    cls = getattr(importlib.import_module(f"pulumi_gcp.{module.split('/')[0]}"), name)
    parameters = inspect.signature(cls._internal_init).parameters
    return "userLabels" if "user_labels" in parameters else "labels" if "labels" in parameters else None


def _labels(field: str, inputs: dict[str, Any]) -> dict[str, str]:
    for part in field.split("."):
        inputs = inputs.get(part) or {}
    return dict(inputs)


def test_every_resource_that_takes_labels_has_the_stack_labels(program: Recording, stack: str) -> None:
    checked = 0
    for resource in program.resources:
        field = _label_field(resource.type) if resource.custom else None
        if field:
            labels = _labels(field, resource.inputs)
            missing = [k for k in REQUIRED_LABELS if k not in labels]
            assert not missing, f"{resource.name} ({resource.type}) lacks labels {missing}"
            assert labels["environment"] == stack
            checked += 1
    assert checked > 0


@pytest.mark.parametrize(
    ("token", "field"),
    [
        ("gcp:compute/globalAddress:GlobalAddress", "labels"),
        ("gcp:compute/network:Network", None),
        ("gcp:monitoring/notificationChannel:NotificationChannel", "userLabels"),
        ("gcp:sql/databaseInstance:DatabaseInstance", "settings.userLabels"),
    ],
)
def test_label_detection_reads_the_provider_schema(token: str, field: str | None) -> None:
    assert _label_field(token) == field
