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


def _accepts_labels(type_token: str) -> bool:
    package, module, name = type_token.split(":")
    if package != "gcp":
        return False
    cls = getattr(importlib.import_module(f"pulumi_gcp.{module.split('/')[0]}"), name)
    return "labels" in inspect.signature(cls._internal_init).parameters


def _labels(resource_type: str, inputs: dict[str, Any]) -> dict[str, str]:
    if resource_type == "gcp:sql/databaseInstance:DatabaseInstance":
        return dict(inputs.get("settings", {}).get("userLabels", {}))
    return dict(inputs.get("labels", {}))


def test_every_resource_that_takes_labels_has_the_stack_labels(program: Recording, stack: str) -> None:
    checked = 0
    for resource in program.resources:
        if resource.custom and _accepts_labels(resource.type):
            labels = _labels(resource.type, resource.inputs)
            missing = [k for k in REQUIRED_LABELS if k not in labels]
            assert not missing, f"{resource.name} ({resource.type}) lacks labels {missing}"
            assert labels["environment"] == stack
            checked += 1
    assert checked > 0


@pytest.mark.parametrize("token", ["gcp:compute/globalAddress:GlobalAddress", "gcp:compute/network:Network"])
def test_label_detection_reads_the_provider_schema(token: str) -> None:
    assert _accepts_labels(token) == token.endswith("GlobalAddress")
