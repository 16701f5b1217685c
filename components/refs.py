"""The small typed references one component takes from another: ids and outputs, never the component itself, so a
consumer can reach only what it was given and a change inside the producer does not ripple."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi


@dataclass(frozen=True)
class NetworkRef:
    """The VPC as its consumers see it.

    `private_services_network` is the network id, resolved only once private services access is peered: a Cloud SQL or
    Memorystore instance that takes its network from it waits for the peering instead of failing with "no private
    connection".
    """

    network_id: pulumi.Output[str]
    serverless_subnet_id: pulumi.Output[str]
    private_services_network: pulumi.Output[str]
    private_services_range: pulumi.Output[str]  # the reserved range's name, for allocated/reserved IP ranges


@dataclass(frozen=True)
class DatabaseBinding:
    """What a workload needs of the Cloud SQL component: no password, only the id of the secret holding it."""

    connection_name: pulumi.Input[str]
    database: str
    user: pulumi.Input[str]
    password_secret_id: pulumi.Input[str]


@dataclass(frozen=True)
class RedisBinding:
    host: pulumi.Input[str]
    port: pulumi.Input[int]
    auth_secret_id: pulumi.Input[str]
