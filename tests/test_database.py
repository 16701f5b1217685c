"""Cloud SQL for PostgreSQL as the engine would receive it, per stack: private, encrypted, backed up, protected."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest

import stack_config
from components.database import CIS_FLAGS, DatabaseArgs
from offline.engine import Recording, Resource, run_program
from offline.engine import stack_config as stack_values
from offline.plan import render
from tests.conftest import config_of, program_of

SQL = "gcp:sql/databaseInstance:DatabaseInstance"


def primary(program: Recording) -> Resource:
    return program.named("database-primary")


def replicas(program: Recording) -> dict[str, Resource]:
    return {r.name.removeprefix("database-replica-"): r for r in program.of(SQL) if r.inputs.get("masterInstanceName")}


def flags(instance: Resource) -> dict[str, str]:
    return {f["name"]: f["value"] for f in instance.inputs["settings"]["databaseFlags"]}


def program_with(stack: str, **sections: dict[str, Any]) -> Recording:
    """A stack's program with some `platform:<key>` sections merged over its stack file."""
    values, _ = stack_values(stack)
    for key, override in sections.items():
        current = json.loads(values.get(f"platform:{key}", "{}"))
        values[f"platform:{key}"] = json.dumps({**current, **override})
    return run_program(stack, config=values)


def test_postgres_version_comes_from_config_and_defaults_to_15(
    program: Recording, config: stack_config.StackConfig
) -> None:
    assert all(r.inputs["databaseVersion"] == config.database.version for r in program.of(SQL))
    assert DatabaseArgs.model_validate({"databases": {"app": {}}, "max_connections": 50}).version == "POSTGRES_15"


def test_dev_database_is_zonal_on_the_cheapest_enterprise_tier() -> None:
    settings = primary(program_of("dev")).inputs["settings"]
    assert settings["availabilityType"] == "ZONAL"
    assert settings["edition"] == "ENTERPRISE"
    assert settings["tier"] in ("db-f1-micro", "db-g1-small")
    assert replicas(program_of("dev")) == {}


def test_prod_database_is_regional_with_automatic_failover() -> None:
    assert primary(program_of("prod")).inputs["settings"]["availabilityType"] == "REGIONAL"


def test_prod_has_a_same_region_read_replica_and_a_cross_region_dr_replica() -> None:
    program = program_of("prod")
    found = replicas(program)
    assert set(found) == {"read", "dr"}
    assert found["read"].inputs["region"] == primary(program).inputs["region"]
    assert found["dr"].inputs["region"] != primary(program).inputs["region"]
    for replica in found.values():
        assert replica.inputs["masterInstanceName"] == "acme-prod-pg"
        assert replica.inputs["instanceType"] == "READ_REPLICA_INSTANCE"


def test_replicas_inherit_the_primarys_network_tls_flags_and_protection() -> None:
    program = program_of("prod")
    main = primary(program)
    for replica in replicas(program).values():
        settings = replica.inputs["settings"]
        assert settings["ipConfiguration"] == main.inputs["settings"]["ipConfiguration"]
        assert flags(replica) == flags(main)
        assert settings["deletionProtectionEnabled"] is True
        assert replica.inputs["deletionProtection"] is True
        assert replica.protect
        assert settings["edition"] == main.inputs["settings"]["edition"]


def test_database_has_a_private_ip_only_on_the_private_services_range(program: Recording) -> None:
    psa = program.named("network-psa-range")
    for instance in program.of(SQL):
        ip = instance.inputs["settings"]["ipConfiguration"]
        assert ip["ipv4Enabled"] is False
        assert ip["privateNetwork"] == program.outputs["network_id"]
        assert ip["allocatedIpRange"] == psa.inputs["name"]
        assert not ip.get("authorizedNetworks")


def test_database_requires_tls(program: Recording) -> None:
    for instance in program.of(SQL):
        assert instance.inputs["settings"]["ipConfiguration"]["sslMode"] in (
            "ENCRYPTED_ONLY",
            "TRUSTED_CLIENT_CERTIFICATE_REQUIRED",
        )


def test_database_waits_for_the_service_networking_connection_and_the_api(program: Recording) -> None:
    main = primary(program)
    assert program.named("network-psa").urn in main.dependencies  # explicit, not only through the network id
    assert program.depends_on(main, program.named("apis-sqladmin"))


def test_backups_run_daily_with_point_in_time_recovery_as_configured(
    program: Recording, config: stack_config.StackConfig
) -> None:
    backups = primary(program).inputs["settings"]["backupConfiguration"]
    wanted = config.database.backups
    assert backups["enabled"] is True
    assert backups["startTime"] == wanted.start_time
    assert backups["backupRetentionSettings"] == {"retainedBackups": wanted.retained_backups, "retentionUnit": "COUNT"}
    assert backups["pointInTimeRecoveryEnabled"] is True
    assert backups["transactionLogRetentionDays"] == wanted.transaction_log_retention_days


def test_prod_backups_are_stored_in_another_region() -> None:
    main = primary(program_of("prod"))
    location = main.inputs["settings"]["backupConfiguration"]["location"]
    assert location
    assert location != main.inputs["region"]


def test_deleting_the_instance_takes_a_final_backup_and_prod_keeps_its_backups(
    program: Recording, config: stack_config.StackConfig
) -> None:
    main = primary(program)
    final = main.inputs["settings"]["finalBackupConfig"]
    assert final == {"enabled": True, "retentionDays": config.database.backups.final_backup_retention_days}
    assert main.inputs["finalBackupDescription"]
    assert primary(program_of("prod")).inputs["settings"]["retainBackupsOnDelete"] is True


def test_maintenance_window_and_update_track_come_from_config(
    program: Recording, config: stack_config.StackConfig
) -> None:
    window = primary(program).inputs["settings"]["maintenanceWindow"]
    maintenance = config.database.maintenance
    days = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]
    assert window == {
        "day": days.index(maintenance.day) + 1,
        "hour": maintenance.hour,
        "updateTrack": maintenance.update_track,
    }


def test_prod_denies_maintenance_in_its_busiest_weeks() -> None:
    deny = primary(program_of("prod")).inputs["settings"]["denyMaintenancePeriod"]
    assert deny == {"startDate": "11-20", "endDate": "12-31", "time": "00:00:00"}
    assert "denyMaintenancePeriod" not in primary(program_of("dev")).inputs["settings"]


def test_query_insights_is_on_the_primary_and_bounded_disk_autoresize_everywhere(
    program: Recording, config: stack_config.StackConfig
) -> None:
    assert primary(program).inputs["settings"]["insightsConfig"]["queryInsightsEnabled"] is True
    for instance in program.of(SQL):
        settings = instance.inputs["settings"]
        assert settings["diskAutoresize"] is True
        assert settings["diskAutoresizeLimit"] == config.database.disk.autoresize_limit_gb
        assert settings["diskAutoresizeLimit"] >= settings["diskSize"]
        assert "settings.diskSize" in instance.ignore_changes


def test_cis_benchmark_flags_and_iam_authentication_are_set(program: Recording) -> None:
    set_flags = flags(primary(program))
    for name, value in CIS_FLAGS.items():
        assert set_flags[name] == value, name
    assert set_flags["log_temp_files"] == "0"
    assert set_flags["cloudsql.iam_authentication"] == "on"


def test_query_insights_is_off_on_read_replicas() -> None:
    # Query Insights for Enterprise Plus is not supported on read replicas; Enterprise replicas do the same.
    for stack in ("staging", "prod"):
        found = replicas(program_of(stack))
        assert found
        for replica in found.values():
            assert replica.inputs["settings"]["insightsConfig"] == {"queryInsightsEnabled": False}


def test_every_stack_logs_hostnames_and_runs_pgaudit(program: Recording) -> None:
    # Checkov CKV_GCP_108 (log_hostname on) and CKV_GCP_110 (cloudsql.enable_pgaudit on).
    set_flags = flags(primary(program))
    assert set_flags["log_hostname"] == "on"
    assert set_flags["cloudsql.enable_pgaudit"] == "on"
    assert set_flags["pgaudit.log"] == "ddl,role"


def test_pgaudit_is_off_only_where_config_turns_it_off() -> None:
    assert "cloudsql.enable_pgaudit" not in flags(primary(program_with("dev", database={"pgaudit": False})))


def test_flags_from_config_are_merged_over_the_defaults() -> None:
    program = program_with("dev", database={"flags": {"log_min_duration_statement": "1000", "work_mem": "8192"}})
    set_flags = flags(primary(program))
    assert set_flags["log_min_duration_statement"] == "1000"
    assert set_flags["work_mem"] == "8192"
    assert set_flags["log_connections"] == "on"


def test_prod_uses_managed_connection_pooling() -> None:
    pools = primary(program_of("prod")).inputs["settings"]["connectionPoolConfigs"]
    assert pools[0]["connectionPoolingEnabled"] is True
    assert {"name": "pool_mode", "value": "transaction"} in pools[0]["flags"]


def test_without_managed_pooling_max_connections_comes_from_config() -> None:
    main = primary(program_of("dev"))
    assert "connectionPoolConfigs" not in main.inputs["settings"]
    assert flags(main)["max_connections"] == str(config_of("dev").database.max_connections)


def test_deletion_protection_is_on_at_both_layers(program: Recording) -> None:
    for instance in program.of(SQL):
        assert instance.inputs["deletionProtection"] is True
        assert instance.inputs["settings"]["deletionProtectionEnabled"] is True


def test_prod_database_primary_replicas_and_data_are_protected_and_dev_is_not() -> None:
    prod = program_of("prod")
    protected = [*prod.of(SQL), *prod.of("gcp:sql/database:Database")]
    assert protected
    assert all(r.protect for r in protected)
    assert not any(r.protect for r in program_of("dev").of(SQL))


def test_each_database_gets_one_application_user_with_a_secret_password(
    program: Recording, config: stack_config.StackConfig
) -> None:
    for db in config.database.databases:
        database = program.one("gcp:sql/database:Database", name=db)
        assert database.inputs["deletionPolicy"] == "ABANDON"
        user = program.one("gcp:sql/user:User", name=config.database.user_of(db))
        assert user.inputs["type"] == "BUILT_IN"
        assert user.inputs["password"] == "[secret]"
        version = program.named(f"database-secret-{db}-version")
        assert version.inputs["secretData"] == "[secret]"
        assert program.depends_on(version, program.named(f"database-password-{db}"))
        assert program.depends_on(user, program.named(f"database-password-{db}"))


def test_application_users_and_iam_users_come_from_config() -> None:
    program = program_with(
        "dev",
        database={
            "databases": {"app": {"user": "app_rw", "secret_accessors": ["group:dba@example.com"]}, "billing": {}},
            "iam_service_accounts": ["migrator@acme-platform-dev.iam.gserviceaccount.com"],
        },
        # Two exports in a row (each may wait out a busy instance first) need an earlier start to end before dev's
        # backup window.
        backup={
            "exports": {"time": "08:30", "time_zone": "Europe/Brussels", "days": ["MON", "TUE", "WED", "THU", "FRI"]}
        },
    )
    assert {u.inputs["name"] for u in program.of("gcp:sql/user:User", type="BUILT_IN")} == {"app_rw", "billing"}
    iam = program.one("gcp:sql/user:User", type="CLOUD_IAM_SERVICE_ACCOUNT")
    assert iam.inputs["name"] == "migrator@acme-platform-dev.iam"
    assert "password" not in iam.inputs
    assert program.outputs["database_users"] == {"app": "app_rw", "billing": "billing"}
    assert set(program.outputs["database_password_secret_ids"]) == {"app", "billing"}
    (grant,) = program.of("gcp:secretmanager/secretIamMember:SecretIamMember", member="group:dba@example.com")
    assert grant.inputs["member"] == "group:dba@example.com"
    assert grant.inputs["secretId"] == program.outputs["database_password_secret_ids"]["app"]


def test_database_outputs_name_the_connection_ip_users_and_secrets(
    program: Recording, config: stack_config.StackConfig
) -> None:
    out = program.outputs
    name = primary(program).inputs["name"]
    assert out["database_connection_name"] == f"{config.gcp.project}:{config.gcp.region}:{name}"
    psa = ipaddress.ip_network(config.network.private_services.cidr)
    assert ipaddress.ip_address(out["database_private_ip"]) in psa
    assert out["database_names"] == list(config.database.databases)
    assert out["database_users"] == {db: config.database.user_of(db) for db in config.database.databases}
    for db, secret_id in out["database_password_secret_ids"].items():
        assert (
            secret_id
            == f"projects/{config.gcp.project}/secrets/"
            + program.named(f"database-secret-{db}-secret").inputs["secretId"]
        )
    assert set(out["database_replica_connection_names"]) == set(config.database.replicas)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_offline_plan_shows_the_database_key_settings(stack: str) -> None:
    text = render(stack, program_of(stack))
    line = next(x for x in text.splitlines() if "database-primary" in x)
    for expected in ("POSTGRES_15", "private IP only", "TLS ENCRYPTED_ONLY", "PITR", "deletion protection on"):
        assert expected in line, expected
