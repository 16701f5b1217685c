"""The config example in docs/traffic.md is valid and is exactly prod's load balancer section."""

from __future__ import annotations

from pathlib import Path

import yaml

from components.load_balancer import LoadBalancerArgs
from tests.conftest import config_of
from tests.docs import code_blocks

DOC = Path(__file__).resolve().parent.parent / "docs" / "traffic.md"


def test_the_documented_example_is_prods_load_balancer_config() -> None:
    blocks = code_blocks(DOC)
    assert len(blocks) == 1
    example = LoadBalancerArgs.model_validate(yaml.safe_load(blocks[0]))
    assert example == config_of("prod").load_balancer
