"""Shared fixtures: each stack's whole program run once on the recording mock engine, and its parsed config."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pulumi
import pytest

import stack_config
from components.context import StackContext
from components.project_services import ProjectServices
from offline.engine import Recording, run_program
from offline.engine import stack_config as stack_values

STACKS = ("dev", "staging", "prod")  # the environments
REFERENCE_STACKS = ("warehouse", "dreamango-staging", "dreamango-prod", "bro-ai")  # real systems (shared/seeds)
ALL_STACKS = (*STACKS, *REFERENCE_STACKS)

_programs: dict[str, Recording] = {}


def program_of(stack: str) -> Recording:
    """The recording of a stack's whole program; run once per test session (it is read-only data)."""
    if stack not in _programs:
        _programs[stack] = run_program(stack)
    return _programs[stack]


def raw_config(stack: str) -> dict[str, Any]:
    """A stack file's `platform:*` values as plain data, to mutate in bad-config tests."""
    values, _ = stack_values(stack)
    return stack_config.decode(values)


def config_of(stack: str) -> stack_config.StackConfig:
    return stack_config.parse(raw_config(stack), stack_file=f"Pulumi.{stack}.yaml")


def context_of(stack: str, *, deletion_protection: bool = True, protect: bool = False) -> StackContext:
    """The context a stack's components are built in, for a component under test; call it inside the run that
    registers the component (it registers the APIs component on that run's engine)."""
    config = config_of(stack)
    return StackContext(
        naming=config.naming(stack),
        project=config.gcp.project,
        region=config.gcp.region,
        apis=ProjectServices("apis"),
        deletion_protection=deletion_protection,
        protect=protect,
    )


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def program(stack: str) -> Recording:
    return program_of(stack)


@pytest.fixture
def config(stack: str) -> stack_config.StackConfig:
    return config_of(stack)


@pytest.fixture
def programs() -> Callable[[str], Recording]:
    return program_of


def config_error(stack: str, mutate: Callable[[dict[str, Any]], object]) -> str:
    """The one-line message a stack's config, changed by `mutate`, is refused with (the whole line, which starts by
    naming the stack file)."""
    raw = copy.deepcopy(raw_config(stack))
    mutate(raw)
    with pytest.raises(pulumi.RunError) as err:
        stack_config.parse(raw, stack_file=f"Pulumi.{stack}.yaml")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"invalid stack config in Pulumi.{stack}.yaml: ")
    return message
