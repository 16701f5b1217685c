"""Instance settings shared by the primary and its replicas, so a replica inherits every security setting."""

from __future__ import annotations

from typing import Any

import pulumi_gcp as gcp

from components.config_types import WEEKDAYS
from components.database.config import (
    CIS_FLAGS,
    IAM_AUTHENTICATION_FLAG,
    PGAUDIT_FLAGS,
    ConnectionPoolingArgs,
    DatabaseArgs,
    DatabaseBackupsArgs,
    DenyMaintenanceArgs,
    InsightsArgs,
    ReplicaArgs,
)
from components.refs import NetworkRef


class SettingsFactory:
    """Settings shared by the primary and its replicas, so a replica inherits every security setting."""

    def __init__(self, args: DatabaseArgs, *, network: NetworkRef, labels: dict[str, str], deletion_protection: bool):
        self._args = args
        self._ip = gcp.sql.DatabaseInstanceSettingsIpConfigurationArgs(
            ipv4_enabled=False,  # private IP only
            private_network=network.private_services_network,
            allocated_ip_range=network.private_services_range,
            ssl_mode=args.ssl_mode,
        )
        self._labels = labels
        self._deletion_protection = deletion_protection

    def _common(
        self,
        tier: str,
        availability: str,
        insights: gcp.sql.DatabaseInstanceSettingsInsightsConfigArgs,
        **extra: Any,
    ) -> gcp.sql.DatabaseInstanceSettingsArgs:
        args = self._args
        return gcp.sql.DatabaseInstanceSettingsArgs(
            tier=tier,
            edition=args.edition,
            availability_type=availability,
            disk_type=args.disk.type,
            disk_size=args.disk.size_gb,
            disk_autoresize=True,
            disk_autoresize_limit=args.disk.autoresize_limit_gb,
            ip_configuration=self._ip,
            database_flags=_flags(args),
            insights_config=insights,
            deletion_protection_enabled=self._deletion_protection,
            user_labels=self._labels,
            data_cache_config=_data_cache(args),
            **extra,
        )

    def primary(self) -> gcp.sql.DatabaseInstanceSettingsArgs:
        args = self._args
        return self._common(
            args.tier,
            args.availability,
            _insights(args.insights),
            backup_configuration=_backups(args.backups),
            final_backup_config=_final_backup(args.backups),
            retain_backups_on_delete=args.backups.retain_on_delete,
            maintenance_window=gcp.sql.DatabaseInstanceSettingsMaintenanceWindowArgs(
                day=WEEKDAYS.index(args.maintenance.day) + 1,
                hour=args.maintenance.hour,
                update_track=args.maintenance.update_track,
            ),
            deny_maintenance_period=_deny(args.maintenance.deny),
            connection_pool_configs=_pooling(args.connection_pooling),
        )

    def replica(self, replica: ReplicaArgs) -> gcp.sql.DatabaseInstanceSettingsArgs:
        """Replicas follow the primary's maintenance and take no backups of their own. Query Insights stays off:
        Cloud SQL does not support Query Insights for Enterprise Plus on read replicas, and Enterprise replicas do
        the same so that staging rehearses prod."""
        return self._common(
            replica.tier,
            replica.availability,
            gcp.sql.DatabaseInstanceSettingsInsightsConfigArgs(query_insights_enabled=False),
        )


def _flags(args: DatabaseArgs) -> list[gcp.sql.DatabaseInstanceSettingsDatabaseFlagArgs]:
    flags = {**CIS_FLAGS, IAM_AUTHENTICATION_FLAG: "on"}
    if args.pgaudit:
        flags.update(PGAUDIT_FLAGS)
    flags["max_connections"] = str(args.max_connections)
    flags.update(args.flags)
    return [gcp.sql.DatabaseInstanceSettingsDatabaseFlagArgs(name=k, value=v) for k, v in sorted(flags.items())]


def _data_cache(args: DatabaseArgs) -> gcp.sql.DatabaseInstanceSettingsDataCacheConfigArgs | None:
    enabled = args.data_cache_enabled
    if enabled is None:
        return None
    return gcp.sql.DatabaseInstanceSettingsDataCacheConfigArgs(data_cache_enabled=enabled)


def _insights(insights: InsightsArgs) -> gcp.sql.DatabaseInstanceSettingsInsightsConfigArgs:
    return gcp.sql.DatabaseInstanceSettingsInsightsConfigArgs(
        query_insights_enabled=True,
        query_string_length=insights.query_string_length,
        record_application_tags=insights.record_application_tags,
        record_client_address=insights.record_client_address,
        query_plans_per_minute=insights.query_plans_per_minute,
    )


def _backups(backups: DatabaseBackupsArgs) -> gcp.sql.DatabaseInstanceSettingsBackupConfigurationArgs:
    return gcp.sql.DatabaseInstanceSettingsBackupConfigurationArgs(
        enabled=backups.enabled,
        start_time=backups.start_time,
        location=backups.location,
        point_in_time_recovery_enabled=backups.enabled and backups.point_in_time_recovery,
        transaction_log_retention_days=backups.transaction_log_retention_days,
        backup_retention_settings=gcp.sql.DatabaseInstanceSettingsBackupConfigurationBackupRetentionSettingsArgs(
            retained_backups=backups.retained_backups, retention_unit="COUNT"
        ),
    )


def _final_backup(backups: DatabaseBackupsArgs) -> gcp.sql.DatabaseInstanceSettingsFinalBackupConfigArgs:
    days = backups.final_backup_retention_days
    return gcp.sql.DatabaseInstanceSettingsFinalBackupConfigArgs(enabled=days is not None, retention_days=days)


def _deny(deny: DenyMaintenanceArgs | None) -> gcp.sql.DatabaseInstanceSettingsDenyMaintenancePeriodArgs | None:
    if deny is None:
        return None
    return gcp.sql.DatabaseInstanceSettingsDenyMaintenancePeriodArgs(
        start_date=deny.start_date, end_date=deny.end_date, time=deny.time
    )


def _pooling(pooling: ConnectionPoolingArgs) -> list[gcp.sql.DatabaseInstanceSettingsConnectionPoolConfigArgs] | None:
    if not pooling.managed:
        return None
    settings = {
        "pool_mode": pooling.pool_mode,
        "max_pool_size": pooling.max_pool_size,
        "max_client_connections": pooling.max_client_connections,
    }
    return [
        gcp.sql.DatabaseInstanceSettingsConnectionPoolConfigArgs(
            connection_pooling_enabled=True,
            flags=[
                gcp.sql.DatabaseInstanceSettingsConnectionPoolConfigFlagArgs(name=k, value=str(v))
                for k, v in settings.items()
                if v is not None
            ],
        )
    ]
