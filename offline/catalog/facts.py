"""The facts record: what the offline tools know about one provider resource type, keyed by its SDK class.

The class (e.g. `gcp.compute.URLMap`) carries the type token the engine records (`gcp:compute/uRLMap:URLMap`), so a
record cannot name a type that does not exist: a misspelt class fails at import, where a misspelt token string would
silently match nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import pulumi

if TYPE_CHECKING:
    from offline.engine import Resource
    from offline.estimate.pricing import Pricer

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
Label = Callable[[Inputs], str]
Seconds: TypeAlias = "Callable[[Resource], float]"

API_CALL = 10.0  # seconds: one API call and its operation (IAM grants, secrets, DNS records, policies, ...)


def named(inputs: Inputs, name: str) -> str:
    """The physical name a resource was given, or its logical name when the provider would generate one."""
    return str(inputs.get("name") or name)


def inputs_only(c: MockContext, name: str, i: Inputs) -> Inputs:
    """Mock outputs of a type whose computed outputs the program never reads: its state is its inputs."""
    return {}


def token_of(resource: type[pulumi.CustomResource]) -> str:
    """The type token the engine records for an SDK class (`gcp.compute.URLMap` -> `gcp:compute/uRLMap:URLMap`)."""
    token = pulumi.get_type_token(resource) if isinstance(resource, type) else None
    if token is None or not issubclass(resource, pulumi.CustomResource):
        raise TypeError(
            f"facts are keyed by a provider's SDK class (e.g. gcp.compute.URLMap), not {resource!r}: the class knows"
            " its type token, a hand-typed string does not"
        )
    if issubclass(resource, pulumi.ProviderResource):
        raise TypeError(f"{token} is a provider: providers need no facts record")
    return token


@dataclass(frozen=True)
class Facts:
    """Everything the offline tools know about one resource type. See docs/estimates.md, "Adding a resource type"."""

    resource: type[pulumi.CustomResource]  # the SDK class, e.g. gcp.compute.URLMap
    _: KW_ONLY
    outputs: MockOutputs  # what the provider computes on create, for the mock engine (`inputs_only`: nothing read)
    summary: Summary  # the one line of settings a reviewer checks in the plan
    create_seconds: float | Seconds  # typical time to create, for the deploy-time estimate
    price: Pricer | None = None  # the resource's usages a month (offline.estimate.pricing), or else:
    free: str = ""  # why it costs nothing by itself, or where its usage is priced instead
    label: Label | None = None  # what the architecture picture says of it; None: not drawn
    token: str = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        token = token_of(self.resource)
        if (self.price is None) == (not self.free):
            raise ValueError(
                f"facts of {token}: give either `price` (its usages) or `free` (why it costs nothing by itself)"
            )
        object.__setattr__(self, "token", token)
