"""Memorystore for Redis, secure by default: reachable only over private services access, AUTH on with the auth
string kept in Secret Manager, TLS with server authentication, RDB snapshots and a fixed maintenance window."""

from __future__ import annotations

from typing import Literal

import pulumi
import pulumi_gcp as gcp
from pydantic import Field, model_validator

from components.config_types import Hour, Model, Weekday, invalid
from components.naming import Naming
from components.network import Network
from components.project_services import ProjectServices
from components.secret import Secret, SecretsArgs

# Memorystore's smallest sizes: read replicas need nodes of at least 5 GB.
MIN_MEMORY_GB = 1
MIN_MEMORY_GB_WITH_READ_REPLICAS = 5
TLS_PORT = 6378


class PersistenceArgs(Model):
    rdb_snapshot_period: Literal["ONE_HOUR", "SIX_HOURS", "TWELVE_HOURS", "TWENTY_FOUR_HOURS"] = "TWELVE_HOURS"


class RedisMaintenanceArgs(Model):
    day: Weekday = "SUNDAY"
    hour: Hour = 4  # UTC


class RedisArgs(Model):
    tier: Literal["BASIC", "STANDARD_HA"] = "BASIC"  # STANDARD_HA: a replica in another zone, automatic failover
    memory_size_gb: int = Field(MIN_MEMORY_GB, le=300)
    version: Literal["REDIS_6_X", "REDIS_7_0", "REDIS_7_2"] = "REDIS_7_2"
    read_replicas: int = Field(0, ge=0, le=5)  # STANDARD_HA only; clients read from `read_endpoint`
    redis_configs: dict[str, str] = {"maxmemory-policy": "allkeys-lru"}
    persistence: PersistenceArgs = PersistenceArgs()
    maintenance: RedisMaintenanceArgs = RedisMaintenanceArgs()

    @model_validator(mode="after")
    def _consistent(self) -> RedisArgs:
        if self.read_replicas and self.tier != "STANDARD_HA":
            invalid("read_replicas", f"read replicas need tier STANDARD_HA (got {self.tier}); set read_replicas: 0")
        minimum = MIN_MEMORY_GB_WITH_READ_REPLICAS if self.read_replicas else MIN_MEMORY_GB
        if self.memory_size_gb < minimum:
            why = f"{self.tier} with read replicas" if self.read_replicas else self.tier
            invalid("memory_size_gb", f"{self.memory_size_gb} GB is below the {minimum} GB minimum of {why}")
        return self


class Redis(pulumi.ComponentResource):
    """A Memorystore instance on the VPC's private services range. Clients connect with TLS to `host`:`port`
    (verifying `ca_certificate`) and authenticate with the string in `auth_secret`."""

    host: pulumi.Output[str]
    port: pulumi.Output[int]
    read_endpoint: pulumi.Output[str]
    ca_certificate: pulumi.Output[str]
    auth_secret: Secret

    def __init__(
        self,
        name: str,
        args: RedisArgs,
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
        super().__init__("platform:components:Redis", name, None, opts)
        replicas = args.read_replicas > 0
        self.instance = gcp.redis.Instance(
            f"{name}-instance",
            name=naming.physical("redis", max_length=40),
            region=region,
            tier=args.tier,
            memory_size_gb=args.memory_size_gb,
            redis_version=args.version,
            redis_configs=args.redis_configs,
            read_replicas_mode="READ_REPLICAS_ENABLED" if replicas else "READ_REPLICAS_DISABLED",
            replica_count=args.read_replicas if replicas else None,
            connect_mode="PRIVATE_SERVICE_ACCESS",
            authorized_network=network.private_services_network,
            reserved_ip_range=network.psa_range.name,
            secondary_ip_range=network.psa_range.name if replicas else None,
            auth_enabled=True,
            transit_encryption_mode="SERVER_AUTHENTICATION",
            persistence_config=gcp.redis.InstancePersistenceConfigArgs(
                persistence_mode="RDB", rdb_snapshot_period=args.persistence.rdb_snapshot_period
            ),
            maintenance_policy=gcp.redis.InstanceMaintenancePolicyArgs(
                weekly_maintenance_windows=[
                    gcp.redis.InstanceMaintenancePolicyWeeklyMaintenanceWindowArgs(
                        day=args.maintenance.day,
                        start_time=gcp.redis.InstanceMaintenancePolicyWeeklyMaintenanceWindowStartTimeArgs(
                            hours=args.maintenance.hour, minutes=0, seconds=0, nanos=0
                        ),
                    )
                ]
            ),
            labels=naming.labels_for("redis"),
            deletion_protection=deletion_protection,
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=protect,
                depends_on=[*apis.require("redis.googleapis.com"), network.psa_connection],
            ),
        )
        self.auth_secret = Secret(
            f"{name}-auth",
            secret_id=naming.physical("redis", "auth", max_length=255),
            # Generated by Memorystore (auth_enabled), secret in the SDK, and kept secret in the version.
            data=self.instance.auth_string.apply(lambda s: s or ""),
            args=secrets,
            labels=naming.labels_for("redis"),
            deletion_protection=deletion_protection,
            protect=protect,
            apis=apis,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.host = self.instance.host
        self.port = self.instance.port
        # Without read replicas there is no read endpoint; readers then use the primary.
        self.read_endpoint = pulumi.Output.all(self.instance.read_endpoint, self.instance.host).apply(
            lambda v: str(v[0] or v[1])
        )
        self.ca_certificate = pulumi.Output.secret(
            self.instance.server_ca_certs.apply(lambda certs: "\n".join(c.cert or "" for c in certs or []).strip())
        )
        self.register_outputs(
            {
                "host": self.host,
                "port": self.port,
                "read_endpoint": self.read_endpoint,
                "auth_secret_id": self.auth_secret.id,
                "ca_certificate": self.ca_certificate,
            }
        )
