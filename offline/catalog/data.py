"""Data types: Cloud SQL instances, databases and users, Memorystore for Redis, Secret Manager, generated passwords."""

from __future__ import annotations

import hashlib
import re
import string
from typing import TYPE_CHECKING, Any

import pulumi_gcp as gcp
import pulumi_random as random

from offline.catalog.common import grant, to_member
from offline.catalog.facts import API_CALL, Facts, Inputs, MockContext, named, token_of
from offline.estimate.pricing import DAYS, HOURS, Context, UnpricedError, Usage, transfer

if TYPE_CHECKING:
    from offline.engine import Resource

SQLADMIN = "https://sqladmin.googleapis.com/sql/v1beta4"
PSA_ADDRESS = token_of(gcp.compute.GlobalAddress)
SECRET = token_of(gcp.secretmanager.Secret)
FAKE_CERT = "-----BEGIN CERTIFICATE-----\nMIIDfzCCAmegAwIBAgIBADANBgkqhkiG9w0BAQsFADB3{seed}\n-----END CERTIFICATE-----"


def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def _in_reserved_range(c: MockContext, range_name: Any, seed: str) -> str:
    """An address inside the private services range the resource names, as Google allocates it."""
    psa = c.created.get((PSA_ADDRESS, str(range_name)))
    network = f"{psa['address']}/{int(psa['prefixLength'])}" if psa and psa.get("address") else "10.0.0.0/8"
    return c.fake_ip(seed, network)


def _ca_certs(seed: str, common_name: str) -> list[Inputs]:
    return [
        {
            "cert": FAKE_CERT.format(seed=_digest(seed)[:32]),
            "commonName": common_name,
            "sha1Fingerprint": _digest("sha1", seed)[:40],
            "createTime": "2026-01-01T00:00:00Z",
            "expirationTime": "2036-01-01T00:00:00Z",
        }
    ]


def _sql_instance(c: MockContext, name: str, i: Inputs) -> Inputs:
    instance = named(i, name)
    region = i.get("region") or c.region
    ip_config = (i.get("settings") or {}).get("ipConfiguration") or {}
    private_ip = _in_reserved_range(c, ip_config.get("allocatedIpRange"), f"{c.project}/{instance}")
    return {
        "id": instance,
        "name": instance,
        "connectionName": f"{c.project}:{region}:{instance}",
        "privateIpAddress": private_ip,
        "publicIpAddress": "",
        "firstIpAddress": private_ip,
        "ipAddresses": [{"ipAddress": private_ip, "type": "PRIVATE"}],
        "dnsName": f"{_digest(instance)[:12]}.{region}.sql.goog.",
        "selfLink": f"{SQLADMIN}/projects/{c.project}/instances/{instance}",
        "serviceAccountEmailAddress": (
            f"p{c.project_number}-{_digest(instance)[:6]}@gcp-sa-cloud-sql.iam.gserviceaccount.com"
        ),
        "serverCaCerts": _ca_certs(
            instance, f"C=US,O=Google\\, Inc,CN=Google Cloud SQL Server CA,dnQualifier={instance}"
        ),
    }


def _redis(c: MockContext, name: str, i: Inputs) -> Inputs:
    instance = named(i, name)
    region = i.get("region") or c.region
    tls = i.get("transitEncryptionMode") == "SERVER_AUTHENTICATION"
    port = 6378 if tls else 6379
    replicas = i.get("readReplicasMode") == "READ_REPLICAS_ENABLED"
    host = _in_reserved_range(c, i.get("reservedIpRange"), f"{c.project}/{instance}")
    out: Inputs = {
        "id": f"projects/{c.project}/locations/{region}/instances/{instance}",
        "name": instance,
        "host": host,
        "port": port,
        "readEndpoint": _in_reserved_range(c, i.get("reservedIpRange"), f"{c.project}/{instance}/read")
        if replicas
        else "",
        "readEndpointPort": port if replicas else 0,
        "currentLocationId": f"{region}-b",
        "serverCaCerts": _ca_certs(instance, "CN=Google Cloud Memorystore Redis Server CA") if tls else [],
        "persistenceIamIdentity": f"serviceAccount:service-{c.project_number}@cloud-redis.iam.gserviceaccount.com",
    }
    if i.get("authEnabled"):
        out["authString"] = f"{_digest('auth', c.project, instance)[:8]}-{_digest('auth', instance)[:27]}"
    return out


def _secret(c: MockContext, name: str, i: Inputs) -> Inputs:
    secret_id = str(i.get("secretId") or name)
    return {
        "id": f"projects/{c.project}/secrets/{secret_id}",
        "name": f"projects/{c.project_number}/secrets/{secret_id}",
    }


def _secret_version(c: MockContext, name: str, i: Inputs) -> Inputs:
    path = f"{i.get('secret')}/versions/1"
    return {"id": path, "name": path, "version": "1", "createTime": "2026-01-01T00:00:00Z"}


def _random_password(c: MockContext, name: str, i: Inputs) -> Inputs:
    """A stable fake password of the requested length and alphabet (the real one is random)."""
    alphabet = string.ascii_letters + string.digits + str(i.get("overrideSpecial") or "")
    seed = int(_digest("password", c.project, name), 16)
    chars = []
    for _ in range(int(i.get("length") or 16)):
        seed, index = divmod(seed, len(alphabet))
        chars.append(alphabet[index])
    return {"id": "none", "result": "".join(chars), "bcryptHash": f"$2a$10${_digest('bcrypt', name)[:53]}"}


def _on(value: Any) -> str:
    return "on" if value else "OFF"


def _sql_instance_summary(i: Inputs) -> str:
    s = i.get("settings") or {}
    ip = s.get("ipConfiguration") or {}
    backups = s.get("backupConfiguration") or {}
    replica_of = i.get("masterInstanceName")
    parts = [
        f"{'replica of ' + str(replica_of) if replica_of else 'primary'}: {i.get('databaseVersion')} "
        f"{s.get('edition')} {s.get('tier')} {s.get('availabilityType')} in {i.get('region')}",
        "private IP only" if ip.get("ipv4Enabled") is False and ip.get("privateNetwork") else "PUBLIC IP",
        f"TLS {ip.get('sslMode')}",
    ]
    if backups.get("enabled"):
        kept = (backups.get("backupRetentionSettings") or {}).get("retainedBackups")
        pitr = (
            f"PITR {backups.get('transactionLogRetentionDays')}d"
            if backups.get("pointInTimeRecoveryEnabled")
            else "PITR OFF"
        )
        where = backups.get("location") or "multi-region"
        parts.append(f"backups {backups.get('startTime')} UTC keep {kept}, {pitr}, in {where}")
    elif not replica_of:
        parts.append("backups OFF")
    flags = {f["name"]: f["value"] for f in s.get("databaseFlags") or []}
    if s.get("connectionPoolConfigs"):
        parts.append("managed pooling")
    elif "max_connections" in flags:
        parts.append(f"max_connections {flags['max_connections']}")
    if "dataCacheConfig" in s:
        parts.append(f"data cache {_on(s['dataCacheConfig'].get('dataCacheEnabled'))}")
    parts.append(f"disk {s.get('diskSizeGb', s.get('diskSize'))}-{s.get('diskAutoresizeLimit')} GB")
    parts.append(f"deletion protection {_on(i.get('deletionProtection') and s.get('deletionProtectionEnabled'))}")
    if i.get("encryptionKeyName"):
        parts.append("CMEK")
    return ", ".join(parts)


def _redis_summary(i: Inputs) -> str:
    replicas = i.get("replicaCount") if i.get("readReplicasMode") == "READ_REPLICAS_ENABLED" else 0
    persistence = i.get("persistenceConfig") or {}
    return (
        f"{i.get('tier')} {i.get('memorySizeGb')} GB {i.get('redisVersion')} in {i.get('region')}, "
        f"{replicas} read replicas, {i.get('connectMode')}, AUTH {_on(i.get('authEnabled'))}, "
        f"TLS {i.get('transitEncryptionMode') or 'DISABLED'}, "
        f"{persistence.get('persistenceMode') or 'no persistence'} {persistence.get('rdbSnapshotPeriod') or ''}"
    ).rstrip() + (", CMEK" if i.get("customerManagedKey") else "")


def _secret_summary(i: Inputs) -> str:
    replication = i.get("replication") or {}
    where = (replication.get("userManaged") or {}).get("replicas")
    placed = "in " + ", ".join(r["location"] for r in where) if where else "automatic replication"
    keys = [r.get("customerManagedEncryption") for r in where or [replication.get("auto") or {}]]
    cmek = ", CMEK" if keys and all(keys) else ""
    rotation = (i.get("rotation") or {}).get("rotationPeriod")
    rotates = f", rotation notice every {int(str(rotation).removesuffix('s')) // 86_400} days" if rotation else ""
    return f"{i.get('secretId')}, {placed}, deletion protection {_on(i.get('deletionProtection'))}{cmek}{rotates}"


_SHARED_CORE = ("db-f1-micro", "db-g1-small")
_N1_MEMORY_PER_CPU = {"standard": 3.75, "highmem": 6.5}


def sql_machine(tier: str) -> tuple[float, float]:
    """(vCPUs, memory GB) of a dedicated-core Cloud SQL tier."""
    if match := re.fullmatch(r"db-custom-(\d+)-(\d+)", tier):
        return float(match[1]), int(match[2]) / 1024
    if match := re.fullmatch(r"db-perf-optimized-N-(\d+)", tier):  # Enterprise Plus: 8 GB per vCPU
        return float(match[1]), float(match[1]) * 8
    if match := re.fullmatch(r"db-n1-(standard|highmem)-(\d+)", tier):
        return float(match[2]), float(match[2]) * _N1_MEMORY_PER_CPU[match[1]]
    raise UnpricedError(
        f"Cloud SQL tier '{tier}' is not one the estimator reads (db-custom-CPU-MB, db-perf-optimized-N-CPU)"
    )


# Enterprise Plus data cache per machine type: "fixed for an instance and a function of the number of vCPUs"
# (cloud.google.com/blog, Cloud SQL for PostgreSQL data cache under the hood); the sizes are not from a page found.
DATA_CACHE_GB = {2: 375, 4: 375, 8: 375, 16: 750, 32: 1500, 48: 3000, 64: 6000, 80: 6000, 96: 6000, 128: 9000}


def _data_cache_gb(settings: Inputs, cpus: float) -> float:
    """The data cache an Enterprise Plus instance is billed for; Cloud SQL turns it on when the setting is absent."""
    if not (settings.get("dataCacheConfig") or {}).get("dataCacheEnabled", True):
        return 0.0
    size = DATA_CACHE_GB.get(int(cpus))
    if size is None:
        raise UnpricedError(f"no data cache size known for {cpus:g} vCPUs (offline/catalog/data.py, DATA_CACHE_GB)")
    return float(size)


def _sql_instance_price(r: Resource, ctx: Context) -> list[Usage]:
    """An instance in its own region's prices: its machine (for the scheduled hours, on a primary), its disk, its
    Enterprise Plus data cache (HA doubles all three); a primary's backups; a replica in another region the write
    traffic it replicates."""
    settings = r.inputs.get("settings") or {}
    tier = str(settings.get("tier") or "")
    replica = bool(r.inputs.get("masterInstanceName"))
    where = ctx.elsewhere(r.inputs.get("region"))
    copies = 2 if settings.get("availabilityType") == "REGIONAL" else 1  # HA keeps a standby of the same size
    ha = " x2 HA" if copies == 2 else ""
    hours = HOURS if replica else ctx.database_hours
    usages: list[Usage] = []
    if tier in _SHARED_CORE:
        usages.append(Usage(f"{tier}{ha}, {hours:g} h", f"sql.shared.{tier}", copies * hours, where))
    else:
        # Only Enterprise Plus has db-perf-optimized tiers, so an instance without `edition` is priced by its tier.
        plus = settings.get("edition") == "ENTERPRISE_PLUS" or tier.startswith("db-perf-optimized")
        edition = "enterprise_plus" if plus else "enterprise"
        cpus, memory = sql_machine(tier)
        usages.append(Usage(f"{cpus:g} vCPU{ha}, {hours:g} h", f"sql.{edition}.vcpu", copies * cpus * hours, where))
        usages.append(
            Usage(f"{memory:g} GB memory{ha}, {hours:g} h", f"sql.{edition}.memory", copies * memory * hours, where)
        )
        cache = _data_cache_gb(settings, cpus) if plus else 0.0
        if cache:
            usages.append(Usage(f"{cache:g} GB data cache{ha}", "sql.data_cache", copies * cache, where))
    disk = float(settings.get("diskSize") or 10)
    disk_type = str(settings.get("diskType") or "PD_SSD")
    usages.append(Usage(f"{disk:g} GB {disk_type}{ha}", f"sql.storage.{disk_type}", copies * disk, where))
    change = ctx.profile.database_change_gb_per_day
    if replica and where:
        usages += transfer(f"{change:g} GB a day replicated from {ctx.region}", change * DAYS, ctx.region, where)
    backups = settings.get("backupConfiguration") or {}
    if not replica and backups.get("enabled"):
        usages.append(_backups(backups, disk, ctx))
    return usages


def _backups(backups: Inputs, disk: float, ctx: Context) -> Usage:
    """Backup storage: one full copy of the data, then each further retained backup holds a day's changes, and
    point-in-time recovery keeps its days of write-ahead logs; billed where the backups are kept."""
    data = ctx.profile.database_gb if ctx.profile.database_gb is not None else disk
    change = ctx.profile.database_change_gb_per_day
    kept = int((backups.get("backupRetentionSettings") or {}).get("retainedBackups") or 7)
    log_days = int(backups.get("transactionLogRetentionDays") or 7) if backups.get("pointInTimeRecoveryEnabled") else 0
    gb = data + (kept - 1) * change + log_days * change
    what = f"{gb:g} GB backups: {data:g} GB + {kept - 1} x {change:g} GB changes + {log_days} days of logs"
    return Usage(what, "sql.backup", gb, ctx.elsewhere(backups.get("location")))


def _sql_label(i: Inputs) -> str:
    if i.get("masterInstanceName"):
        return "read replica"
    settings = i.get("settings") or {}
    version = str(i.get("databaseVersion") or "").replace("POSTGRES_", "PostgreSQL ")
    return f"Cloud SQL {version}, {settings.get('availabilityType') or 'ZONAL'}, {settings.get('tier')}"


def redis_capacity_tier(gb: float) -> str:
    """Memorystore prices by capacity tier: M1 1-4 GB, M2 5-10, M3 11-35, M4 36-100, M5 above."""
    for tier, upto in (("M1", 4), ("M2", 10), ("M3", 35), ("M4", 100)):
        if gb <= upto:
            return tier
    return "M5"


def _redis_price(r: Resource, ctx: Context) -> list[Usage]:
    tier = str(r.inputs.get("tier") or "BASIC")
    gb = float(r.inputs.get("memorySizeGb") or 1)
    nodes = 1.0
    if tier == "STANDARD_HA" and r.inputs.get("readReplicasMode") == "READ_REPLICAS_ENABLED":
        # The Standard price covers a primary and one replica; every further read replica is another node.
        nodes = (1 + int(r.inputs.get("replicaCount") or 1)) / 2
    shape = f"{tier} {gb:g} GB" + (f" with {int(nodes * 2 - 1)} read replicas" if nodes != 1 else "")
    where = ctx.elsewhere(r.inputs.get("region"))
    return [Usage(shape, f"redis.{tier}.{redis_capacity_tier(gb)}", gb * HOURS * nodes, where)]


def _secret_locations(secret: Resource) -> int:
    replicas = ((secret.inputs.get("replication") or {}).get("userManaged") or {}).get("replicas") or []
    return len(replicas) or 1  # automatic replication is billed as one location


def _secret_version_price(r: Resource, ctx: Context) -> list[Usage]:
    secrets = [d for d in ctx.dependencies(r) if d.type == SECRET]
    locations = _secret_locations(secrets[0]) if secrets else 1
    return [Usage(f"active version in {locations} location(s)", "secrets.version", locations)]


RECORDS = (
    Facts(
        gcp.sql.DatabaseInstance,
        outputs=_sql_instance,
        summary=_sql_instance_summary,
        create_seconds=lambda r: 600 if r.inputs.get("masterInstanceName") else 720,
        price=_sql_instance_price,
        label=_sql_label,
    ),
    Facts(
        gcp.sql.Database,
        outputs=lambda c, name, i: {
            "id": f"projects/{c.project}/instances/{i.get('instance')}/databases/{named(i, name)}",
            "selfLink": f"{SQLADMIN}/projects/{c.project}/instances/{i.get('instance')}/databases/{named(i, name)}",
        },
        summary=lambda i: (
            f"{i.get('name')} ({i.get('charset')}, {i.get('collation')}), deletion policy {i.get('deletionPolicy')}"
        ),
        create_seconds=API_CALL,
        free="a database is part of its instance's price",
    ),
    Facts(
        gcp.sql.User,
        outputs=lambda c, name, i: {"id": f"{named(i, name)}//{i.get('instance')}"},
        summary=lambda i: (
            f"{i.get('type')} user {i.get('name')}" + (", password [secret]" if i.get("password") == "[secret]" else "")
        ),
        create_seconds=API_CALL,
        free="a user is part of its instance's price",
    ),
    Facts(
        gcp.redis.Instance,
        outputs=_redis,
        summary=_redis_summary,
        create_seconds=lambda r: 600 if r.inputs.get("tier") == "STANDARD_HA" else 360,
        price=_redis_price,
        label=lambda i: f"Memorystore Redis {i.get('tier') or 'BASIC'} {i.get('memorySizeGb')} GB",
    ),
    Facts(
        gcp.secretmanager.Secret,
        outputs=_secret,
        summary=_secret_summary,
        create_seconds=API_CALL,
        free="billed per active version (SecretVersion) and access (stack-wide)",
    ),
    Facts(
        gcp.secretmanager.SecretVersion,
        outputs=_secret_version,
        summary=lambda i: "value [secret]" if i.get("secretData") == "[secret]" else "value in PLAINTEXT",
        create_seconds=API_CALL,
        price=_secret_version_price,
    ),
    grant(
        gcp.secretmanager.SecretIamMember,
        to_member,
        lambda c, name, i: {
            "id": f"{i.get('secretId')}/{i.get('role')}/{i.get('member')}",
            "etag": _digest("etag", name)[:12],
        },
    ),
    Facts(
        random.RandomPassword,
        outputs=_random_password,
        summary=lambda i: f"{i.get('length')} characters, generated, kept secret",
        create_seconds=0,  # computed locally by the provider
        free="generated locally by the provider",
    ),
)
