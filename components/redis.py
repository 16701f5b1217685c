"""Memorystore for Redis, secure by default: reachable only over private services access, AUTH on with the auth
string kept in Secret Manager, TLS with server authentication, RDB snapshots and a fixed maintenance window."""

from __future__ import annotations

from typing import Literal

import pulumi
import pulumi_gcp as gcp
from pydantic import Field, model_validator

from components.config_types import Hour, Model, Weekday, invalid
from components.context import StackContext
from components.observability.config import RedisAlertsArgs
from components.observability.signals import Alert, Chart, Runbook, Watched, metric, threshold
from components.refs import NetworkRef
from components.secret import Secret, SecretsArgs

# Memorystore's smallest sizes: read replicas need nodes of at least 5 GB.
MIN_MEMORY_GB = 1
MIN_MEMORY_GB_WITH_READ_REPLICAS = 5
TLS_PORT = 6378
MEMORY_RUNBOOK = Runbook(
    "Redis memory is nearly used up; keys will be evicted or writes refused.",
    "Check key growth and TTLs; scale the instance's memory size if the working set grew.",
    "redis-memory",
)


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
        ctx: StackContext,
        network: NetworkRef,
        secrets: SecretsArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:components:Redis", name, None, ctx.component(opts))
        naming = ctx.naming
        replicas = args.read_replicas > 0
        self.instance_name = naming.physical("redis", max_length=40)
        # Known before the instance exists, so monitoring can name it without waiting for it.
        self.instance_id = f"projects/{ctx.project}/locations/{ctx.region}/instances/{self.instance_name}"
        self.instance = gcp.redis.Instance(
            f"{name}-instance",
            name=self.instance_name,
            region=ctx.region,
            tier=args.tier,
            memory_size_gb=args.memory_size_gb,
            redis_version=args.version,
            redis_configs=args.redis_configs,
            read_replicas_mode="READ_REPLICAS_ENABLED" if replicas else "READ_REPLICAS_DISABLED",
            replica_count=args.read_replicas if replicas else None,
            connect_mode="PRIVATE_SERVICE_ACCESS",
            authorized_network=network.private_services_network,
            reserved_ip_range=network.private_services_range,
            secondary_ip_range=network.private_services_range if replicas else None,
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
            labels=ctx.labels("redis"),
            deletion_protection=ctx.deletion_protection,
            # Its network resolves once private services access is peered, so it waits for the peering too.
            opts=ctx.stateful(self, "redis.googleapis.com"),
        )
        self.auth_secret = Secret(
            f"{name}-auth",
            secret_id=naming.physical("redis", "auth", max_length=255),
            # Generated by Memorystore (auth_enabled), secret in the SDK, and kept secret in the version.
            data=self.instance.auth_string.apply(lambda s: s or ""),
            args=secrets,
            ctx=ctx,
            owner="redis",
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

    def watch(self, t: RedisAlertsArgs) -> Watched:
        return watch_redis(self.instance_id, t)


def watch_redis(instance_id: str, t: RedisAlertsArgs) -> Watched:
    """Memory use against the instance's size, and charts of memory, clients and the cache hit ratio."""
    where = f'resource.type="redis_instance" AND resource.label.instance_id="{instance_id}"'
    duration = f"{t.duration_seconds}s"
    condition = threshold(
        f"memory usage ratio > {t.memory_usage_ratio:.0%} for {duration}",
        metric(where, "redis.googleapis.com/stats/memory/usage_ratio"),
        t.memory_usage_ratio,
        duration,
    )
    return Watched(
        key="redis",
        alerts=(
            Alert("redis-memory", f"Redis: memory usage above {t.memory_usage_ratio:.0%}", [condition], MEMORY_RUNBOOK),
        ),
        charts=tuple(
            Chart(f"Redis: {what}", metric(where, f"redis.googleapis.com/{m}"), "ALIGN_MEAN", "REDUCE_MAX")
            for what, m in (
                ("memory usage ratio", "stats/memory/usage_ratio"),
                ("connected clients", "clients/connected"),
                ("cache hit ratio", "stats/cache_hit_ratio"),
            )
        ),
    )
