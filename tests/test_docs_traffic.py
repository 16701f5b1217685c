"""The config example in docs/traffic.md is valid and is exactly prod's load balancer section."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from components.load_balancer import LoadBalancerArgs
from tests.conftest import config_of

DOC = Path(__file__).resolve().parent.parent / "docs" / "traffic.md"


def test_the_documented_example_is_prods_load_balancer_config() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    assert len(blocks) == 1
    example = LoadBalancerArgs.model_validate(yaml.safe_load(blocks[0]))
    assert example == config_of("prod").load_balancer
