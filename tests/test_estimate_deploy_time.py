"""The deploy-time estimate: the critical path through the dependency graph, weighted by typical create times."""

from __future__ import annotations

import itertools

import pulumi_gcp as gcp
import pytest

from offline.catalog.facts import API_CALL, token_of
from offline.engine import Recording
from offline.estimate import deploy_time
from tests.records import Builder

SQL = "gcp:sql/databaseInstance:DatabaseInstance"


def _platform() -> tuple[Builder, dict[str, object]]:
    b = Builder()
    apis = b.component("ProjectServices", "apis")
    api = b.add("gcp:projects/service:Service", "apis-servicenetworking", parent=apis)
    net = b.component("Network", "network")
    vpc = b.add("gcp:compute/network:Network", "network-vpc", parent=net, needs=(api,))
    psa_range = b.add("gcp:compute/globalAddress:GlobalAddress", "network-psa-range", parent=net, needs=(vpc,))
    psa = b.add("gcp:servicenetworking/connection:Connection", "network-psa", parent=net, needs=(psa_range, vpc))
    primary = b.add(SQL, "database-primary", {}, needs=(psa,))
    replica = b.add(SQL, "database-replica", {"masterInstanceName": "db"}, needs=(primary,))
    redis = b.add("gcp:redis/instance:Instance", "cache", {"tier": "STANDARD_HA"}, needs=(psa,))
    service = b.add("gcp:cloudrunv2/service:Service", "api", needs=(primary, redis))
    return b, {"primary": primary, "redis": redis, "replica": replica, "service": service}


def test_the_critical_path_runs_through_the_database_and_its_replica() -> None:
    b, _ = _platform()
    estimate = deploy_time.estimate(b.recording)
    assert estimate.seconds == 30 + 30 + 10 + 120 + 720 + 600
    assert estimate.path == (
        "apis-servicenetworking",
        "network-vpc",
        "network-psa-range",
        "network-psa",
        "database-primary",
        "database-replica",
    )
    assert estimate.line() == (
        "Estimated deploy time: 25 min (critical path: apis-servicenetworking → network-vpc → network-psa-range"
        " → network-psa → database-primary → database-replica)"
    )


def test_redis_does_not_wait_for_the_database() -> None:
    b, _ = _platform()
    redis_only = Builder()
    for r in b.recording.resources:
        if r.type != SQL and r.name != "api":
            redis_only.recording.resources.append(r)
    # Without the database the path ends at Redis, created right after private services access.
    assert deploy_time.estimate(redis_only.recording).seconds == 30 + 30 + 10 + 120 + 600
    assert deploy_time.estimate(redis_only.recording).path[-1] == "cache"


def test_a_dependency_on_a_component_waits_for_everything_inside_it() -> None:
    b = Builder()
    data = b.component("Database", "database")
    b.add(SQL, "database-primary", {}, parent=data)
    b.add("gcp:cloudrunv2/service:Service", "api", needs=(data,))
    estimate = deploy_time.estimate(b.recording)
    assert estimate.path == ("database-primary", "api")
    assert estimate.seconds == 720 + 60


@pytest.mark.parametrize(
    ("type_", "inputs", "seconds"),
    [
        (SQL, {}, 720),
        (SQL, {"masterInstanceName": "db"}, 600),
        ("gcp:redis/instance:Instance", {"tier": "BASIC"}, 360),
        ("gcp:redis/instance:Instance", {"tier": "STANDARD_HA"}, 600),
        ("gcp:secretmanager/secret:Secret", {}, API_CALL),
        ("random:index/randomPassword:RandomPassword", {}, 0),
        (token_of(gcp.compute.URLMap), {}, 15),  # not the default: its record is found by the token the engine records
        ("gcp:compute/instance:Instance", {}, deploy_time.DEFAULT_SECONDS),  # no record yet
    ],
)
def test_create_times_per_type(type_: str, inputs: dict[str, object], seconds: float) -> None:
    b = Builder()
    assert deploy_time.create_seconds(b.add(type_, "r", inputs)) == seconds


def test_the_critical_path_of_every_stack_is_a_real_chain_of_dependencies(program: Recording) -> None:
    estimate = deploy_time.estimate(program)
    assert estimate.path
    chain = [program.named(name) for name in estimate.path]
    for earlier, later in itertools.pairwise(chain):
        assert program.depends_on(later, earlier), f"{later.name} does not wait for {earlier.name}"
    assert estimate.seconds == pytest.approx(sum(deploy_time.create_seconds(r) for r in chain))


def test_the_data_stores_and_the_edge_are_created_in_parallel(program: Recording) -> None:
    """Memorystore, Cloud SQL and the load balancer share only the network: none waits for another."""
    database, redis = program.named("database-primary"), program.named("redis-instance")
    assert not program.depends_on(redis, database)
    assert not program.depends_on(database, redis)
    for resource in program.resources:
        if resource.type.startswith(("gcp:compute/securityPolicy", "gcp:compute/globalAddress")):
            assert not program.depends_on(resource, database), resource.name
        if resource.type.startswith("cloudflare:") and resource.type != "cloudflare:index/dnsRecord:DnsRecord":
            assert not program.depends_on(resource, database), resource.name


def test_the_database_and_redis_wait_for_private_services_access(program: Recording) -> None:
    connection = program.one("gcp:servicenetworking/connection:Connection")
    assert program.depends_on(program.named("database-primary"), connection)
    assert program.depends_on(program.named("redis-instance"), connection)
