"""The config examples in docs/traffic.md are valid and are exactly prod's: its serving regions and load balancer."""

from __future__ import annotations

from pathlib import Path

import yaml

from components.load_balancer import LoadBalancerArgs
from components.network import SubnetArgs
from components.serving import ServingArgs
from offline.engine import ROOT
from tests.conftest import config_of
from tests.docs import code_blocks

DOC = Path(__file__).resolve().parent.parent / "docs" / "traffic.md"


def test_the_documented_example_is_prods_load_balancer_config() -> None:
    blocks = code_blocks(DOC)
    assert len(blocks) == 2
    example = LoadBalancerArgs.model_validate(yaml.safe_load(blocks[1]))
    assert example == config_of("prod").load_balancer


def test_the_documented_serving_example_is_prods() -> None:
    example = yaml.safe_load(code_blocks(DOC)[0])
    prod = config_of("prod")
    assert ServingArgs.model_validate(example["platform:serving"]) == prod.serving
    for key, subnet in example["platform:network"]["subnets"].items():
        assert SubnetArgs.model_validate(subnet) == prod.network.subnets[key]


def test_retiring_a_region_takes_its_negs_out_before_its_services_go() -> None:
    """A deleted Cloud Run service is not reported unhealthy to the load balancer: the procedure takes the region out
    of rotation (and its services' deletion protection off) first, and only then removes it from config."""
    text = " ".join((ROOT / "docs" / "traffic.md").read_text().split())
    procedure = text[text.index("**To retire a region**") :]
    assert procedure.index("retiring: true") < procedure.index("Then remove the region from `serving.regions`")
    # The subnet goes last, hours after the services: Direct VPC egress releases its addresses late.
    assert procedure.index("Then remove the region from `serving.regions`") < procedure.index(
        "At least two hours later, remove its subnet"
    )
