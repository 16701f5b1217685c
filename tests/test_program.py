"""Each stack's whole program runs on the mock engine and produces the stack outputs app deploys rely on."""

from __future__ import annotations

from offline.engine import Recording


def test_every_stack_runs_and_exports_network_outputs(program: Recording) -> None:
    for key in ("network_id", "network_self_link", "subnets", "psa_range", "nat_ips"):
        assert key in program.outputs, key
    assert program.outputs["network_id"].endswith("-vpc")


def test_every_resource_has_a_parent_component(program: Recording) -> None:
    """Only components and providers sit at the top of the tree: every cloud resource belongs to a component."""
    urns = {r.urn for r in program.resources}
    top = [r for r in program.resources if r.parent not in urns and not r.type.startswith("pulumi:providers:")]
    loose = [r.name for r in top if not r.type.startswith("platform:components:")]
    assert top
    assert loose == []
