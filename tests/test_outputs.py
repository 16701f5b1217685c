"""docs/outputs.md is the contract app deploys rely on: it must list exactly what every stack exports, with the types
the values really have, and mark secret exactly the outputs that are secret."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from offline.engine import Recording, run_program
from offline.engine import stack_config as stack_values
from stack_config import StackConfig
from tests.conftest import ALL_STACKS, program_of

DOC = Path(__file__).resolve().parent.parent / "docs" / "outputs.md"
ROW = re.compile(
    r"^\| `(?P<name>[a-z0-9_]+)` \| (?P<type>[^|]+?) \| (?P<secret>yes|no) \| (?P<when>[^|]+?) \| (?P<meaning>[^|]+) \|"
)
# When an output exists: always, or only where the stack config has the part of the platform that produces it.
WHEN: dict[str, Callable[[StackConfig], bool]] = {
    "always": lambda config: True,
    "with a load balancer": lambda config: config.load_balancer.enabled,
    "with an edge": lambda config: config.edge is not None,
    "with an event bus": lambda config: config.events is not None,
    "with a warehouse": lambda config: config.warehouse is not None,
    "with GKE": lambda config: config.gke is not None,
    "with internal tools": lambda config: config.gke is not None and config.gke.internal_tools is not None,
    "with Binary Authorization": lambda config: config.binary_authorization is not None,
}


@dataclass(frozen=True)
class Documented:
    name: str
    type: str
    secret: bool
    when: str


def documented() -> dict[str, Documented]:
    rows = [ROW.match(line) for line in DOC.read_text().splitlines()]
    return {
        m["name"]: Documented(m["name"], m["type"].strip(), m["secret"] == "yes", m["when"].strip()) for m in rows if m
    }


def conforms(value: Any, type_: str) -> bool:
    """Whether a value as `pulumi stack output --json` prints it has the documented type."""
    if type_.endswith(" or null"):
        return value is None or conforms(value, type_.removesuffix(" or null"))
    if type_.startswith("list[") and type_.endswith("]"):
        return isinstance(value, list) and all(conforms(v, type_[5:-1]) for v in value)
    if type_.startswith("map[string, ") and type_.endswith("]"):
        inner = type_[len("map[string, ") : -1]
        return isinstance(value, dict) and all(isinstance(k, str) and conforms(v, inner) for k, v in value.items())
    scalars: dict[str, type | tuple[type, ...]] = {"string": str, "integer": int, "boolean": bool, "object": dict}
    expected = scalars.get(type_)
    if expected is None:
        raise AssertionError(f"docs/outputs.md uses an unknown type {type_!r}")
    return isinstance(value, expected) and not (type_ == "integer" and isinstance(value, bool))


def test_the_contract_table_parses() -> None:
    assert len(documented()) >= 5
    assert conforms({"a": ["x"]}, "map[string, list[string]]")
    assert not conforms({"a": [1]}, "map[string, list[string]]")
    assert not conforms(True, "integer")
    assert conforms(None, "string or null")
    assert not conforms(None, "string")


def test_the_contract_lists_exactly_what_the_stacks_export() -> None:
    exported = {name for stack in ALL_STACKS for name in program_of(stack).outputs}
    doc = set(documented())
    assert (sorted(exported - doc), sorted(doc - exported)) == ([], []), (
        "(exported but missing from docs/outputs.md, documented but exported by no stack)"
    )


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_every_stack_exports_every_documented_output_with_its_type(program: Recording, config: StackConfig) -> None:
    expected = {name: row for name, row in documented().items() if WHEN[row.when](config)}
    assert sorted(program.outputs) == sorted(expected)
    wrong = {
        name: (row.type, program.outputs[name])
        for name, row in expected.items()
        if not conforms(program.outputs[name], row.type)
    }
    assert wrong == {}


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_secret_outputs_are_exactly_the_documented_secrets(program: Recording) -> None:
    secret = {name for name, row in documented().items() if row.secret and name in program.outputs}
    assert program.secret_outputs == secret


def test_migration_jobs_map_each_service_to_its_own_job_and_the_old_name_is_null_without_any() -> None:
    dev = program_of("dev")
    jobs = {r.inputs["name"] for r in dev.of("gcp:cloudrunv2/job:Job")}
    assert dev.outputs["migration_jobs"] == {"orders": next(iter(jobs))}
    assert dev.outputs["migration_job_name"] == dev.outputs["migration_jobs"]["orders"]
    values, _ = stack_values("dev")
    services = json.loads(values["platform:services"])
    for service in services.values():
        service.pop("migrations", None)
    bare = run_program("dev", config={**values, "platform:services": json.dumps(services)})
    assert bare.outputs["migration_jobs"] == {}
    assert bare.outputs["migration_job_name"] is None
    assert conforms(None, documented()["migration_job_name"].type)
