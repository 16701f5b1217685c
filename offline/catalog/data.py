"""Data types: Cloud SQL instances, databases and users, Memorystore for Redis, Secret Manager, generated passwords."""

from __future__ import annotations

import hashlib
import string
from typing import Any

from offline.catalog import Inputs, MockContext, MockOutputs, Summary, named

SQLADMIN = "https://sqladmin.googleapis.com/sql/v1beta4"
PSA_ADDRESS = "gcp:compute/globalAddress:GlobalAddress"
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


MOCK_OUTPUTS: dict[str, MockOutputs] = {
    "gcp:sql/databaseInstance:DatabaseInstance": _sql_instance,
    "gcp:sql/database:Database": lambda c, name, i: {
        "id": f"projects/{c.project}/instances/{i.get('instance')}/databases/{named(i, name)}",
        "selfLink": f"{SQLADMIN}/projects/{c.project}/instances/{i.get('instance')}/databases/{named(i, name)}",
    },
    "gcp:sql/user:User": lambda c, name, i: {"id": f"{named(i, name)}//{i.get('instance')}"},
    "gcp:redis/instance:Instance": _redis,
    "gcp:secretmanager/secret:Secret": _secret,
    "gcp:secretmanager/secretVersion:SecretVersion": _secret_version,
    "gcp:secretmanager/secretIamMember:SecretIamMember": lambda c, name, i: {
        "id": f"{i.get('secretId')}/{i.get('role')}/{i.get('member')}",
        "etag": _digest("etag", name)[:12],
    },
    "random:index/randomPassword:RandomPassword": _random_password,
}


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
    parts.append(f"disk {s.get('diskSizeGb', s.get('diskSize'))}-{s.get('diskAutoresizeLimit')} GB")
    parts.append(f"deletion protection {_on(i.get('deletionProtection') and s.get('deletionProtectionEnabled'))}")
    return ", ".join(parts)


def _redis_summary(i: Inputs) -> str:
    replicas = i.get("replicaCount") if i.get("readReplicasMode") == "READ_REPLICAS_ENABLED" else 0
    persistence = i.get("persistenceConfig") or {}
    return (
        f"{i.get('tier')} {i.get('memorySizeGb')} GB {i.get('redisVersion')} in {i.get('region')}, "
        f"{replicas} read replicas, {i.get('connectMode')}, AUTH {_on(i.get('authEnabled'))}, "
        f"TLS {i.get('transitEncryptionMode') or 'DISABLED'}, "
        f"{persistence.get('persistenceMode') or 'no persistence'} {persistence.get('rdbSnapshotPeriod') or ''}"
    ).rstrip()


def _secret_summary(i: Inputs) -> str:
    replication = i.get("replication") or {}
    where = (replication.get("userManaged") or {}).get("replicas")
    placed = "in " + ", ".join(r["location"] for r in where) if where else "automatic replication"
    return f"{i.get('secretId')}, {placed}, deletion protection {_on(i.get('deletionProtection'))}"


SUMMARIES: dict[str, Summary] = {
    "gcp:sql/databaseInstance:DatabaseInstance": _sql_instance_summary,
    "gcp:sql/database:Database": lambda i: (
        f"{i.get('name')} ({i.get('charset')}, {i.get('collation')}), deletion policy {i.get('deletionPolicy')}"
    ),
    "gcp:sql/user:User": lambda i: (
        f"{i.get('type')} user {i.get('name')}" + (", password [secret]" if i.get("password") == "[secret]" else "")
    ),
    "gcp:redis/instance:Instance": _redis_summary,
    "gcp:secretmanager/secret:Secret": _secret_summary,
    "gcp:secretmanager/secretVersion:SecretVersion": lambda i: (
        "value [secret]" if i.get("secretData") == "[secret]" else "value in PLAINTEXT"
    ),
    "gcp:secretmanager/secretIamMember:SecretIamMember": lambda i: f"{i.get('role')} to {i.get('member')}",
    "random:index/randomPassword:RandomPassword": lambda i: f"{i.get('length')} characters, generated, kept secret",
}
