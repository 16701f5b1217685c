"""Memorystore for Redis as the engine would receive it: private, authenticated, encrypted, persisted, protected."""

from __future__ import annotations

import ipaddress

import stack_config
from offline.engine import Recording, Resource
from offline.plan import render
from tests.conftest import program_of


def redis(program: Recording) -> Resource:
    return program.named("redis-instance")


def test_dev_redis_is_basic_with_1_gb_and_no_read_replicas() -> None:
    inputs = redis(program_of("dev")).inputs
    assert inputs["tier"] == "BASIC"
    assert inputs["memorySizeGb"] == 1
    assert inputs["readReplicasMode"] == "READ_REPLICAS_DISABLED"
    assert "replicaCount" not in inputs


def test_prod_redis_is_highly_available_with_read_replicas_and_a_read_endpoint() -> None:
    program = program_of("prod")
    inputs = redis(program).inputs
    assert inputs["tier"] == "STANDARD_HA"
    assert inputs["readReplicasMode"] == "READ_REPLICAS_ENABLED"
    assert inputs["replicaCount"] >= 1
    assert inputs["memorySizeGb"] >= 5
    assert program.outputs["redis_read_endpoint"] != program.outputs["redis_host"]


def test_redis_size_version_and_configs_come_from_config(program: Recording, config: stack_config.StackConfig) -> None:
    inputs = redis(program).inputs
    assert inputs["memorySizeGb"] == config.redis.memory_size_gb
    assert inputs["redisVersion"] == config.redis.version
    assert inputs["redisConfigs"] == config.redis.redis_configs
    assert inputs["redisConfigs"]["maxmemory-policy"]


def test_redis_is_reachable_only_over_private_services_access(program: Recording) -> None:
    inputs = redis(program).inputs
    assert inputs["connectMode"] == "PRIVATE_SERVICE_ACCESS"
    assert inputs["authorizedNetwork"] == program.outputs["network_id"]
    assert inputs["reservedIpRange"] == program.named("network-psa-range").inputs["name"]
    assert program.named("network-psa").urn in redis(program).dependencies
    assert program.depends_on(redis(program), program.named("apis-redis"))


def test_redis_requires_auth_and_keeps_the_auth_string_in_secret_manager(program: Recording) -> None:
    assert redis(program).inputs["authEnabled"] is True
    version = program.named("redis-auth-version")
    assert version.inputs["secretData"] == "[secret]"
    assert program.depends_on(version, redis(program))  # the value is the instance's generated auth string
    secret_id = program.named("redis-auth-secret").inputs["secretId"]
    assert program.outputs["redis_auth_secret_id"].endswith(f"/secrets/{secret_id}")


def test_redis_encrypts_in_transit_and_exports_the_server_ca_as_a_secret(program: Recording) -> None:
    assert redis(program).inputs["transitEncryptionMode"] == "SERVER_AUTHENTICATION"
    assert program.outputs["redis_port"] == 6378
    assert program.outputs["redis_ca_certificate"].startswith("-----BEGIN CERTIFICATE-----")
    assert "redis_ca_certificate" in program.secret_outputs


def test_redis_persists_rdb_snapshots_at_the_configured_period(
    program: Recording, config: stack_config.StackConfig
) -> None:
    assert redis(program).inputs["persistenceConfig"] == {
        "persistenceMode": "RDB",
        "rdbSnapshotPeriod": config.redis.persistence.rdb_snapshot_period,
    }


def test_redis_has_a_weekly_maintenance_window_from_config(
    program: Recording, config: stack_config.StackConfig
) -> None:
    (window,) = redis(program).inputs["maintenancePolicy"]["weeklyMaintenanceWindows"]
    assert window["day"] == config.redis.maintenance.day
    assert window["startTime"]["hours"] == config.redis.maintenance.hour


def test_redis_is_protected_in_prod_and_not_in_dev(program: Recording, config: stack_config.StackConfig) -> None:
    assert redis(program).protect is config.protection.protect
    assert redis(program).inputs["deletionProtection"] is config.protection.deletion_protection
    assert redis(program_of("prod")).protect


def test_redis_outputs_host_port_and_read_endpoint_in_the_private_range(
    program: Recording, config: stack_config.StackConfig
) -> None:
    psa = ipaddress.ip_network(config.network.private_services.cidr)
    assert ipaddress.ip_address(program.outputs["redis_host"]) in psa
    assert ipaddress.ip_address(program.outputs["redis_read_endpoint"]) in psa
    assert redis(program).inputs["labels"]["component"] == "redis"


def test_without_read_replicas_readers_use_the_primary() -> None:
    assert program_of("dev").outputs["redis_read_endpoint"] == program_of("dev").outputs["redis_host"]


def test_the_offline_plan_shows_the_redis_key_settings() -> None:
    line = next(x for x in render("prod", program_of("prod")).splitlines() if "redis-instance" in x)
    for expected in ("STANDARD_HA", "5 GB", "2 read replicas", "PRIVATE_SERVICE_ACCESS", "AUTH on", "TLS SERVER_AUTH"):
        assert expected in line, expected
