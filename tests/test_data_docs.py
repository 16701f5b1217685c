"""The examples in docs/data.md run: its config block is a valid stack config, its errors are the real ones."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pytest
import yaml

import stack_config
from tests.conftest import raw_config
from tests.docs import code_blocks

DOC = (Path(__file__).resolve().parent.parent / "docs" / "data.md").read_text()


def test_the_documented_config_is_a_valid_stack_config() -> None:
    (block,) = code_blocks("docs/data.md")
    document = yaml.safe_load("config:\n" + block)["config"]
    raw = {**raw_config("prod"), **{k.removeprefix("platform:"): v for k, v in document.items()}}
    config = stack_config.parse(raw, stack_file="docs/data.md")
    assert config.database.replicas["dr"].disaster_recovery
    assert config.redis.read_replicas == 2


@pytest.mark.parametrize(
    ("stack", "section", "changes"),
    [
        (
            "prod",
            "database",
            {
                "replicas": {
                    "dr": {"region": "europe-west1", "tier": "db-perf-optimized-N-2", "disaster_recovery": True}
                }
            },
        ),
        ("dev", "redis", {"read_replicas": 1}),
    ],
)
def test_the_documented_errors_are_the_ones_the_program_prints(
    stack: str, section: str, changes: dict[str, object]
) -> None:
    (block,) = [text for text in code_blocks("docs/data.md", "") if "invalid stack config" in text]
    raw = raw_config(stack)
    current = raw[section]
    assert isinstance(current, dict)
    raw[section] = {**current, **changes}
    with pytest.raises(pulumi.RunError) as err:
        stack_config.parse(raw, stack_file=f"Pulumi.{stack}.yaml")
    assert str(err.value) in block.splitlines()
