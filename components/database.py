"""Cloud SQL for PostgreSQL: private IP only, TLS required, backups with point-in-time recovery, the CIS logging flags,
read replicas (one in another region for disaster recovery), and one application user per database whose generated
password lives only in Secret Manager."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import pulumi
import pulumi_gcp as gcp
import pulumi_random as random
from pydantic import AfterValidator, Field, StringConstraints, model_validator

from components.config_types import WEEKDAYS, Hour, Model, Region, Weekday, invalid
from components.naming import Naming
from components.network import Network
from components.project_services import ProjectServices
from components.secret import Secret, SecretsArgs

# What the CIS Google Cloud Foundations benchmark asks of Cloud SQL for PostgreSQL (section 6.2): log enough to
# investigate an incident, never the statements' parameters, and no per-statement statistics. Config may override.
CIS_FLAGS: dict[str, str] = {
    "log_checkpoints": "on",
    "log_connections": "on",
    "log_disconnections": "on",
    "log_lock_waits": "on",
    "log_duration": "on",
    "log_hostname": "off",
    "log_error_verbosity": "default",
    "log_statement": "ddl",
    "log_min_error_statement": "error",
    "log_min_messages": "warning",
    "log_temp_files": "0",
    "log_min_duration_statement": "-1",
    "log_parser_stats": "off",
    "log_planner_stats": "off",
    "log_executor_stats": "off",
    "log_statement_stats": "off",
}
IAM_AUTHENTICATION_FLAG = "cloudsql.iam_authentication"
PGAUDIT_FLAGS = {"cloudsql.enable_pgaudit": "on", "pgaudit.log": "ddl,role"}

# Shared-core and custom machine types are Enterprise edition; Enterprise Plus runs only the performance-optimized ones.
TIERS = {
    "ENTERPRISE": re.compile(r"^db-(f1-micro|g1-small|custom-\d+-\d+)$"),
    "ENTERPRISE_PLUS": re.compile(r"^db-perf-optimized-N-(2|4|8|16|32|48|64|80|96|128)$"),
}
MAX_LOG_RETENTION_DAYS = {"ENTERPRISE": 7, "ENTERPRISE_PLUS": 35}

Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
ReplicaKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,19}$")]
_SERVICE_ACCOUNT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z][a-z0-9-]{4,28}[a-z0-9]\.iam\.gserviceaccount\.com$")


def _service_account(value: str) -> str:
    if not _SERVICE_ACCOUNT.match(value):
        raise ValueError(f"'{value}' is not a service account email; write NAME@PROJECT.iam.gserviceaccount.com")
    return value


ServiceAccountEmail = Annotated[str, AfterValidator(_service_account)]
Member = Annotated[str, StringConstraints(pattern=r"^(serviceAccount|group|user):[^@\s]+@[^@\s]+$")]
Tier = Annotated[str, StringConstraints(pattern=r"^db-[a-zA-Z0-9-]+$")]


class DiskArgs(Model):
    type: Literal["PD_SSD", "PD_HDD"] = "PD_SSD"
    size_gb: int = Field(10, ge=10)  # the starting size; autoresize grows it, so later changes are ignored
    autoresize_limit_gb: int = Field(100, ge=10)  # growth stops here, so a runaway write cannot run up the bill

    @model_validator(mode="after")
    def _limit_above_size(self) -> DiskArgs:
        if self.autoresize_limit_gb < self.size_gb:
            invalid("autoresize_limit_gb", f"{self.autoresize_limit_gb} is below size_gb ({self.size_gb})")
        return self


class BackupArgs(Model):
    enabled: bool = True
    start_time: Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")] = "02:00"  # UTC, HH:MM
    retained_backups: int = Field(7, ge=1, le=365)
    point_in_time_recovery: bool = True
    transaction_log_retention_days: int = Field(7, ge=1, le=35)
    location: Region | Literal["asia", "eu", "us"] | None = None  # None: the multi-region nearest the instance
    final_backup_retention_days: int | None = Field(30, ge=1, le=365)  # a last backup when the instance is deleted
    retain_on_delete: bool = True  # keep automated backups after the instance is gone


class DenyMaintenanceArgs(Model):
    """No maintenance between two dates (up to 90 days); dates as yyyy-m-d, or m-d for a yearly period."""

    start_date: Annotated[str, StringConstraints(pattern=r"^(\d{4}-)?\d{1,2}-\d{1,2}$")]
    end_date: Annotated[str, StringConstraints(pattern=r"^(\d{4}-)?\d{1,2}-\d{1,2}$")]
    time: Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d:[0-5]\d$")] = "00:00:00"

    @model_validator(mode="after")
    def _same_shape(self) -> DenyMaintenanceArgs:
        if self.start_date.count("-") != self.end_date.count("-"):
            invalid("end_date", "give both dates with a year (yyyy-m-d) or both without (m-d, recurring yearly)")
        return self


class MaintenanceArgs(Model):
    day: Weekday = "SUNDAY"
    hour: Hour = 3  # UTC; the window lasts one hour
    update_track: Literal["canary", "stable", "week5"] = "stable"
    deny: DenyMaintenanceArgs | None = None


class InsightsArgs(Model):
    query_string_length: int = Field(1024, ge=256, le=4500)
    record_application_tags: bool = True
    record_client_address: bool = False
    query_plans_per_minute: int = Field(5, ge=0, le=20)


class ConnectionPoolingArgs(Model):
    """Managed Connection Pooling (Enterprise Plus only); otherwise size `max_connections` and pool in the clients."""

    managed: bool = False
    pool_mode: Literal["transaction", "session"] = "transaction"
    max_pool_size: int | None = Field(None, ge=1)
    max_client_connections: int | None = Field(None, ge=1)


class DatabaseUserArgs(Model):
    user: Identifier | None = None  # the application user; defaults to the database's name
    secret_accessors: list[Member] = []  # principals (beyond the services wired in code) that may read the password


class ReplicaArgs(Model):
    region: Region
    tier: Tier
    availability: Literal["ZONAL", "REGIONAL"] = "ZONAL"
    disaster_recovery: bool = False  # a cross-region replica to promote if the primary's region is lost


class DatabaseArgs(Model):
    version: Literal["POSTGRES_14", "POSTGRES_15", "POSTGRES_16", "POSTGRES_17"] = "POSTGRES_15"
    edition: Literal["ENTERPRISE", "ENTERPRISE_PLUS"] = "ENTERPRISE"
    tier: Tier = "db-g1-small"
    availability: Literal["ZONAL", "REGIONAL"] = "ZONAL"  # REGIONAL: a standby in another zone, automatic failover
    disk: DiskArgs = DiskArgs()
    ssl_mode: Literal["ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"] = "ENCRYPTED_ONLY"
    backups: BackupArgs = BackupArgs()
    maintenance: MaintenanceArgs = MaintenanceArgs()
    insights: InsightsArgs = InsightsArgs()
    pgaudit: bool = False  # session audit logging (run CREATE EXTENSION pgaudit in each database)
    max_connections: int = Field(ge=14, le=262143)  # explicit: pool sizes and the connections alert derive from it
    connection_pooling: ConnectionPoolingArgs = ConnectionPoolingArgs()
    flags: dict[str, str] = {}  # any other PostgreSQL flags; they win over the defaults above
    databases: dict[Identifier, DatabaseUserArgs] = Field(min_length=1)
    iam_service_accounts: list[ServiceAccountEmail] = []  # database users that log in with IAM, not a password
    replicas: dict[ReplicaKey, ReplicaArgs] = {}

    @model_validator(mode="after")
    def _consistent(self) -> DatabaseArgs:
        if not TIERS[self.edition].match(self.tier):
            invalid(
                "tier", f"'{self.tier}' is not a machine type of edition {self.edition}; {_tier_hint(self.edition)}"
            )
        for key, replica in self.replicas.items():
            if not TIERS[self.edition].match(replica.tier):
                invalid(
                    f"replicas.{key}.tier",
                    f"'{replica.tier}' is not a machine type of edition {self.edition}; {_tier_hint(self.edition)}",
                )
        limit = MAX_LOG_RETENTION_DAYS[self.edition]
        if self.backups.transaction_log_retention_days > limit:
            invalid(
                "backups.transaction_log_retention_days",
                f"{self.edition} keeps transaction logs for at most {limit} days",
            )
        if self.replicas and not (self.backups.enabled and self.backups.point_in_time_recovery):
            invalid(
                "backups.enabled",
                "replicas need automated backups and point_in_time_recovery on the primary; enable both or remove "
                "replicas",
            )
        if self.connection_pooling.managed and self.edition != "ENTERPRISE_PLUS":
            invalid(
                "connection_pooling.managed",
                "Managed Connection Pooling needs edition ENTERPRISE_PLUS; set max_connections and pool in the clients",
            )
        users = [db.user or name for name, db in self.databases.items()]
        if len(set(users)) != len(users):
            invalid("databases", f"each database needs its own user; users {users} repeat a name")
        return self

    def check_region(self, region: str, *, key: str) -> None:
        """Rules that need the primary's region (the stack's region, outside this model); `key` is this model's."""
        for name, replica in self.replicas.items():
            if replica.disaster_recovery and replica.region == region:
                invalid(
                    f"{key}.replicas.{name}.region",
                    f"a disaster-recovery replica must be in another region than the primary ({region})",
                )

    def user_of(self, database: str) -> str:
        return self.databases[database].user or database


def _tier_hint(edition: str) -> str:
    if edition == "ENTERPRISE":
        return "use db-f1-micro, db-g1-small or db-custom-CPUS-MEMORY_MB (or edition ENTERPRISE_PLUS)"
    return "use db-perf-optimized-N-2 (N-4, N-8, ...) or edition ENTERPRISE"


class Database(pulumi.ComponentResource):
    """A PostgreSQL primary reachable only on the VPC's private services range, with TLS required, deletion
    protection at both layers, backups and PITR, read replicas, and per-database users whose passwords are generated
    and stored in Secret Manager (never exported)."""

    connection_name: pulumi.Output[str]
    private_ip: pulumi.Output[str]
    users: dict[str, pulumi.Output[str]]
    password_secrets: dict[str, Secret]
    password_secret_ids: dict[str, pulumi.Output[str]]
    replica_connection_names: dict[str, pulumi.Output[str]]

    def __init__(
        self,
        name: str,
        args: DatabaseArgs,
        *,
        naming: Naming,
        region: str,
        network: Network,
        apis: ProjectServices,
        secrets: SecretsArgs,
        deletion_protection: bool,
        protect: bool,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:components:Database", name, None, opts)
        self._args = args
        self._naming = naming
        settings = _SettingsFactory(
            args,
            network=network,
            labels=naming.labels_for("database"),
            deletion_protection=deletion_protection,
        )
        # The disk grows by itself and an office-hours schedule may stop the instance: without ignoring both, the next
        # `pulumi up` would try to shrink the disk back or restart a stopped instance.
        stateful = pulumi.ResourceOptions(
            parent=self, protect=protect, ignore_changes=["settings.diskSize", "settings.activationPolicy"]
        )
        # Known before anything exists, so monitoring can name the instances without waiting for them.
        self.instance_name = naming.physical("pg")
        self.replica_names = {key: naming.physical("pg", key) for key in args.replicas}
        self.instance = gcp.sql.DatabaseInstance(
            f"{name}-primary",
            name=self.instance_name,
            region=region,
            database_version=args.version,
            deletion_protection=deletion_protection,
            final_backup_description=(
                "Final backup taken when the instance was deleted" if args.backups.final_backup_retention_days else None
            ),
            settings=settings.primary(),
            # Waits for the private services peering as well as the API: the known "no private connection" race.
            opts=pulumi.ResourceOptions.merge(
                stateful,
                pulumi.ResourceOptions(depends_on=[*apis.require("sqladmin.googleapis.com"), network.psa_connection]),
            ),
        )
        self.replicas = {
            key: gcp.sql.DatabaseInstance(
                f"{name}-replica-{key}",
                name=self.replica_names[key],
                region=replica.region,
                database_version=args.version,
                master_instance_name=self.instance.name,
                instance_type="READ_REPLICA_INSTANCE",
                deletion_protection=deletion_protection,
                settings=settings.replica(replica),
                opts=stateful,
            )
            for key, replica in args.replicas.items()
        }
        self.databases = {
            db: gcp.sql.Database(
                f"{name}-db-{db}",
                name=db,
                instance=self.instance.name,
                charset="UTF8",
                collation="en_US.UTF8",
                # Removing a database from config must not drop its data; a DBA drops it deliberately.
                deletion_policy="ABANDON",
                opts=pulumi.ResourceOptions(parent=self, protect=protect),
            )
            for db in args.databases
        }
        self.password_secrets: dict[str, Secret] = {}
        self.users: dict[str, pulumi.Output[str]] = {}
        for db in args.databases:
            self.users[db], self.password_secrets[db] = self._app_user(
                name, db, apis=apis, secrets=secrets, deletion_protection=deletion_protection, protect=protect
            )
        self.iam_users = {
            email: gcp.sql.User(
                f"{name}-iam-{email}",
                # Cloud SQL names a service account's PostgreSQL role after its email without the domain suffix.
                name=email.removesuffix(".gserviceaccount.com"),
                instance=self.instance.name,
                type="CLOUD_IAM_SERVICE_ACCOUNT",
                opts=pulumi.ResourceOptions(parent=self),
            )
            for email in args.iam_service_accounts
        }

        self.connection_name = self.instance.connection_name
        self.private_ip = self.instance.private_ip_address
        self.database_names = list(args.databases)
        self.password_secret_ids = {db: secret.id for db, secret in self.password_secrets.items()}
        self.replica_connection_names = {key: r.connection_name for key, r in self.replicas.items()}
        self.register_outputs(
            {
                "connection_name": self.connection_name,
                "private_ip": self.private_ip,
                "databases": self.database_names,
                "users": self.users,
                "password_secret_ids": self.password_secret_ids,
                "replica_connection_names": self.replica_connection_names,
            }
        )

    def _app_user(
        self,
        name: str,
        db: str,
        *,
        apis: ProjectServices,
        secrets: SecretsArgs,
        deletion_protection: bool,
        protect: bool,
    ) -> tuple[pulumi.Output[str], Secret]:
        """The database's application user, with a generated password that only Secret Manager holds."""
        child = pulumi.ResourceOptions(parent=self)
        password = random.RandomPassword(
            f"{name}-password-{db}",
            length=32,
            special=True,
            override_special="-_.~",  # URL-safe, so the password fits a connection URI unescaped
            min_lower=1,
            min_upper=1,
            min_numeric=1,
            opts=pulumi.ResourceOptions(parent=self, protect=protect),
        )
        user = gcp.sql.User(
            f"{name}-user-{db}",
            name=self._args.user_of(db),
            instance=self.instance.name,
            type="BUILT_IN",
            password=password.result,
            # PostgreSQL refuses to drop a role that owns objects; leave it to a DBA instead of failing the destroy.
            deletion_policy="ABANDON",
            opts=child,
        )
        secret = Secret(
            f"{name}-secret-{db}",
            secret_id=self._naming.physical("db", db, "password", max_length=255),
            data=password.result,
            args=secrets,
            labels=self._naming.labels_for("database"),
            deletion_protection=deletion_protection,
            protect=protect,
            apis=apis,
            accessors={m: m for m in self._args.databases[db].secret_accessors},
            opts=child,
        )
        return user.name, secret


class _SettingsFactory:
    """Settings shared by the primary and its replicas, so a replica inherits every security setting."""

    def __init__(self, args: DatabaseArgs, *, network: Network, labels: dict[str, str], deletion_protection: bool):
        self._args = args
        self._ip = gcp.sql.DatabaseInstanceSettingsIpConfigurationArgs(
            ipv4_enabled=False,  # private IP only
            private_network=network.private_services_network,
            allocated_ip_range=network.psa_range.name,
            ssl_mode=args.ssl_mode,
        )
        self._labels = labels
        self._deletion_protection = deletion_protection

    def _common(self, tier: str, availability: str, **extra: Any) -> gcp.sql.DatabaseInstanceSettingsArgs:
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
            insights_config=_insights(args.insights),
            deletion_protection_enabled=self._deletion_protection,
            user_labels=self._labels,
            **extra,
        )

    def primary(self) -> gcp.sql.DatabaseInstanceSettingsArgs:
        args = self._args
        return self._common(
            args.tier,
            args.availability,
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
        """Replicas follow the primary's maintenance and take no backups of their own."""
        return self._common(replica.tier, replica.availability)


def _flags(args: DatabaseArgs) -> list[gcp.sql.DatabaseInstanceSettingsDatabaseFlagArgs]:
    flags = {**CIS_FLAGS, IAM_AUTHENTICATION_FLAG: "on"}
    if args.pgaudit:
        flags.update(PGAUDIT_FLAGS)
    flags["max_connections"] = str(args.max_connections)
    flags.update(args.flags)
    return [gcp.sql.DatabaseInstanceSettingsDatabaseFlagArgs(name=k, value=v) for k, v in sorted(flags.items())]


def _insights(insights: InsightsArgs) -> gcp.sql.DatabaseInstanceSettingsInsightsConfigArgs:
    return gcp.sql.DatabaseInstanceSettingsInsightsConfigArgs(
        query_insights_enabled=True,
        query_string_length=insights.query_string_length,
        record_application_tags=insights.record_application_tags,
        record_client_address=insights.record_client_address,
        query_plans_per_minute=insights.query_plans_per_minute,
    )


def _backups(backups: BackupArgs) -> gcp.sql.DatabaseInstanceSettingsBackupConfigurationArgs:
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


def _final_backup(backups: BackupArgs) -> gcp.sql.DatabaseInstanceSettingsFinalBackupConfigArgs:
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
