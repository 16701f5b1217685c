"""Per-resource-type knowledge for the offline engine, one module per area (network, data, compute, edge, ...).

Each module may define:
- `MOCK_OUTPUTS`: type token -> fn(ctx, logical_name, inputs) -> the outputs the real provider returns after a create;
- `SUMMARIES`: type token -> fn(inputs) -> the one-line settings a reviewer checks in the plan.
Modules are discovered automatically, so an area adds its types without touching the others.
"""

from __future__ import annotations

import hashlib
import importlib
import ipaddress
import pkgutil
from collections.abc import Callable
from typing import Any

Inputs = dict[str, Any]


class MockContext:
    """What the mocks know of the stack: its project and region, and stable fake values derived from names."""

    def __init__(self, project_id: str, region: str) -> None:
        self.project = project_id
        self.region = region
        self.project_number = str(int(hashlib.sha256(project_id.encode()).hexdigest(), 16))[:12]
        # (type token, physical name) -> state of what the run created so far, for outputs that depend on another
        # resource (e.g. a private IP inside the reserved range named in the inputs).
        self.created: dict[tuple[str, str], Inputs] = {}

    def fake_ip(self, seed: str, network: str = "10.0.0.0/8") -> str:
        net = ipaddress.ip_network(network)
        offset = int(hashlib.sha256(seed.encode()).hexdigest(), 16) % (net.num_addresses - 2) + 1
        return str(net.network_address + offset)


MockOutputs = Callable[[MockContext, str, Inputs], Inputs]
Summary = Callable[[Inputs], str]


def named(inputs: Inputs, name: str) -> str:
    """The physical name a resource was given, or its logical name when the provider would generate one."""
    return str(inputs.get("name") or name)


def _load() -> tuple[dict[str, MockOutputs], dict[str, Summary]]:
    outputs: dict[str, MockOutputs] = {}
    summaries: dict[str, Summary] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for table, found in (
            (outputs, getattr(module, "MOCK_OUTPUTS", {})),
            (summaries, getattr(module, "SUMMARIES", {})),
        ):
            twice = table.keys() & found.keys()
            if twice:  # one owner per type, or the last module loaded would silently win
                raise ValueError(f"offline.catalog.{info.name} redefines {', '.join(sorted(twice))}; keep one")
            table.update(found)
    return outputs, summaries


MOCK_OUTPUTS, SUMMARIES = _load()
