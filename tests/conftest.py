"""Shared fixtures: each stack's whole program run once on the recording mock engine, and its parsed config."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

import stack_config
from offline.engine import Recording, run_program
from offline.engine import stack_config as stack_values

STACKS = ("dev", "staging", "prod")

_programs: dict[str, Recording] = {}


def program_of(stack: str) -> Recording:
    """The recording of a stack's whole program; run once per test session (it is read-only data)."""
    if stack not in _programs:
        _programs[stack] = run_program(stack)
    return _programs[stack]


def raw_config(stack: str) -> dict[str, object]:
    """A stack file's `platform:*` values as plain data, to mutate in bad-config tests."""
    values, _ = stack_values(stack)
    raw: dict[str, object] = {}
    for key, value in values.items():
        if key.startswith(f"{stack_config.NAMESPACE}:"):
            try:
                raw[key.split(":", 1)[1]] = json.loads(value)
            except ValueError:
                raw[key.split(":", 1)[1]] = value
    return raw


def config_of(stack: str) -> stack_config.StackConfig:
    return stack_config.parse(raw_config(stack), stack_file=f"Pulumi.{stack}.yaml")


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
