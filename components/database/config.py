"""The Cloud SQL for PostgreSQL settings of the stack file: edition and tier, disk, backups, maintenance, flags, users
and replicas, checked against what Cloud SQL accepts."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from components.config_types import WEEKDAYS, Hour, Model, Region, SqlIdentifier, Weekday, invalid
from components.windows import DAYS, Recurring, minutes_of

# What the CIS Google Cloud Foundations benchmark asks of Cloud SQL for PostgreSQL (section 6.2): log enough to
# investigate an incident, never the statements' parameters, and no per-statement statistics. Config may override.
CIS_FLAGS: dict[str, str] = {
    "log_checkpoints": "on",
    "log_connections": "on",
    "log_disconnections": "on",
    "log_lock_waits": "on",
    "log_duration": "on",
    "log_hostname": "on",  # CIS 6.2.5 as Checkov reads it (CKV_GCP_108): connections name the client host
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
# An automated backup starts at some time in the four hours from backups.start_time (UTC); maintenance takes place in
# the hour from maintenance.hour (UTC) on its day. Cloud SQL runs one operation at a time: exports keep clear of both.
BACKUP_WINDOW_MINUTES = 4 * 60
MAINTENANCE_WINDOW_MINUTES = 60

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


class DatabaseBackupsArgs(Model):
    enabled: bool = True
    start_time: Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")] = "02:00"  # UTC, HH:MM
    retained_backups: int = Field(7, ge=1, le=365)
    point_in_time_recovery: bool = True
    transaction_log_retention_days: int = Field(7, ge=1, le=35)
    location: Region | Literal["asia", "eu", "us"] | None = None  # None: the multi-region nearest the instance
    final_backup_retention_days: int | None = Field(30, ge=1, le=365)  # a last backup when the instance is deleted
    retain_on_delete: bool = True  # keep automated backups after the instance is gone

    def window(self) -> Recurring | None:
        """The daily backup window, in UTC; None when automated backups are off."""
        return Recurring(minutes_of(self.start_time), BACKUP_WINDOW_MINUTES) if self.enabled else None


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

    def window(self) -> Recurring:
        """The weekly maintenance window, in UTC."""
        return Recurring(self.hour * 60, MAINTENANCE_WINDOW_MINUTES, days=(DAYS[WEEKDAYS.index(self.day)],))


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
    user: SqlIdentifier | None = None  # the application user; defaults to the database's name
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
    backups: DatabaseBackupsArgs = DatabaseBackupsArgs()
    maintenance: MaintenanceArgs = MaintenanceArgs()
    insights: InsightsArgs = InsightsArgs()
    pgaudit: bool = True  # audit logging (CKV_GCP_110); each database also needs CREATE EXTENSION pgaudit
    max_connections: int = Field(ge=14, le=262143)  # explicit: pool sizes and the connections alert derive from it
    connection_pooling: ConnectionPoolingArgs = ConnectionPoolingArgs()
    flags: dict[str, str] = {}  # any other PostgreSQL flags; they win over the defaults above
    # Enterprise Plus data cache: local SSD extending memory, billed per GB of its fixed size (375 GB on 2-8 vCPUs).
    # Cloud SQL turns it on when a request omits it, so the program always says; None: Cloud SQL's default (on).
    data_cache: bool | None = None
    databases: dict[SqlIdentifier, DatabaseUserArgs] = Field(min_length=1)
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
        if self.data_cache and self.edition != "ENTERPRISE_PLUS":
            invalid("data_cache", "the data cache is an Enterprise Plus feature; remove it or use ENTERPRISE_PLUS")
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

    @property
    def data_cache_enabled(self) -> bool | None:
        """What the instances ask for: the setting, Cloud SQL's default on Enterprise Plus, nothing on Enterprise."""
        if self.edition != "ENTERPRISE_PLUS":
            return None
        return True if self.data_cache is None else self.data_cache

    def user_of(self, database: str) -> str:
        return self.databases[database].user or database


def _tier_hint(edition: str) -> str:
    if edition == "ENTERPRISE":
        return "use db-f1-micro, db-g1-small or db-custom-CPUS-MEMORY_MB (or edition ENTERPRISE_PLUS)"
    return "use db-perf-optimized-N-2 (N-4, N-8, ...) or edition ENTERPRISE"
