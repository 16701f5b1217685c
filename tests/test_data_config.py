"""Mistakes in the database, Redis and secrets config stop the program with one line that names the key."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

import stack_config
from tests.conftest import raw_config


def parse(stack: str, section: str, **changes: Any) -> stack_config.StackConfig:
    raw = raw_config(stack)
    current = raw.get(section)
    raw[section] = {**(current if isinstance(current, dict) else {}), **changes}
    return stack_config.parse(raw, stack_file=f"Pulumi.{stack}.yaml")


def prod_database(**changes: Any) -> dict[str, Any]:
    database = raw_config("prod")["database"]
    assert isinstance(database, dict)
    return {**database, **changes}


def test_every_stack_file_is_valid() -> None:
    for stack in ("dev", "staging", "prod"):
        parse(stack, "database")


def test_replicas_need_backups_on_the_primary() -> None:
    backups = {**prod_database()["backups"], "enabled": False}
    with pytest.raises(pulumi.RunError, match=r"database\.backups\.enabled: replicas need automated backups"):
        parse("prod", "database", backups=backups)


def test_replicas_need_point_in_time_recovery_on_the_primary() -> None:
    backups = {**prod_database()["backups"], "point_in_time_recovery": False}
    with pytest.raises(pulumi.RunError, match=r"database\.backups\.enabled: .*point_in_time_recovery"):
        parse("prod", "database", backups=backups)


def test_a_disaster_recovery_replica_must_be_in_another_region() -> None:
    replicas = {"dr": {"region": "europe-west1", "tier": "db-perf-optimized-N-2", "disaster_recovery": True}}
    with pytest.raises(
        pulumi.RunError, match=r"database\.replicas\.dr\.region: a disaster-recovery replica must be in another region"
    ):
        parse("prod", "database", replicas=replicas)


def test_an_unknown_postgres_version_is_rejected() -> None:
    with pytest.raises(
        pulumi.RunError, match=r"database\.version: input should be .*POSTGRES_15.*\(got 'POSTGRES_9'\)"
    ):
        parse("dev", "database", version="POSTGRES_9")


def test_an_invalid_maintenance_day_is_rejected() -> None:
    with pytest.raises(
        pulumi.RunError, match=r"database\.maintenance\.day: input should be 'MONDAY'.*\(got 'FUNDAY'\)"
    ):
        parse("dev", "database", maintenance={"day": "FUNDAY", "hour": 3})


def test_an_invalid_maintenance_hour_is_rejected() -> None:
    with pytest.raises(pulumi.RunError, match=r"redis\.maintenance\.hour: input should be less than or equal to 23"):
        parse("dev", "redis", maintenance={"day": "SUNDAY", "hour": 24})
    with pytest.raises(pulumi.RunError, match=r"database\.maintenance\.hour: input should be greater than or equal"):
        parse("dev", "database", maintenance={"day": "SUNDAY", "hour": -1})


def test_a_tier_of_the_wrong_edition_is_rejected() -> None:
    with pytest.raises(
        pulumi.RunError, match=r"database\.tier: 'db-f1-micro' is not a machine type of edition ENTERPRISE_PLUS"
    ):
        parse("prod", "database", tier="db-f1-micro")
    with pytest.raises(
        pulumi.RunError, match=r"database\.replicas\.read\.tier: 'db-g1-small' is not a machine type of edition"
    ):
        parse("prod", "database", replicas={"read": {"region": "europe-west1", "tier": "db-g1-small"}})


def test_transaction_logs_beyond_the_editions_limit_are_rejected() -> None:
    backups = {"transaction_log_retention_days": 14}
    with pytest.raises(
        pulumi.RunError, match=r"database\.backups\.transaction_log_retention_days: ENTERPRISE keeps .* at most 7 days"
    ):
        parse("dev", "database", backups=backups)


def test_managed_connection_pooling_needs_enterprise_plus() -> None:
    with pytest.raises(
        pulumi.RunError, match=r"database\.connection_pooling\.managed: .* needs edition ENTERPRISE_PLUS"
    ):
        parse("dev", "database", connection_pooling={"managed": True})


def test_two_databases_cannot_share_a_user() -> None:
    with pytest.raises(pulumi.RunError, match=r"database\.databases: each database needs its own user"):
        parse("dev", "database", databases={"app": {}, "jobs": {"user": "app"}})


def test_an_iam_user_must_be_a_service_account_email() -> None:
    with pytest.raises(
        pulumi.RunError, match=r"database\.iam_service_accounts\.0: 'alice@example.com' is not a service account email"
    ):
        parse("dev", "database", iam_service_accounts=["alice@example.com"])


def test_redis_memory_below_the_tiers_minimum_is_rejected() -> None:
    with pytest.raises(pulumi.RunError, match=r"redis\.memory_size_gb: 0 GB is below the 1 GB minimum of BASIC"):
        parse("dev", "redis", memory_size_gb=0)
    with pytest.raises(
        pulumi.RunError,
        match=r"redis\.memory_size_gb: 1 GB is below the 5 GB minimum of STANDARD_HA with read replicas",
    ):
        parse("prod", "redis", memory_size_gb=1)


def test_read_replicas_on_a_basic_redis_are_rejected() -> None:
    with pytest.raises(pulumi.RunError, match=r"redis\.read_replicas: read replicas need tier STANDARD_HA"):
        parse("dev", "redis", read_replicas=1, memory_size_gb=5)


def test_a_secret_replicated_twice_to_one_region_is_rejected() -> None:
    with pytest.raises(pulumi.RunError, match=r"secrets\.replicas: .* lists a region twice"):
        parse("prod", "secrets", replicas=["europe-west1", "europe-west1"])
    with pytest.raises(pulumi.RunError, match=r"secrets\.replicas\.0: 'europe-west99' is not a Google Cloud region"):
        parse("prod", "secrets", replicas=["europe-west99"])


def test_pgaudit_without_cloud_sql_data_access_logs_names_both_keys() -> None:
    # pgAudit's entries are Cloud SQL Data Access audit logs, which a project does not write unless told to.
    with pytest.raises(pulumi.RunError, match=r"database\.pgaudit: .*audit_logs\.services"):
        parse("prod", "audit_logs", services=["redis.googleapis.com"])
