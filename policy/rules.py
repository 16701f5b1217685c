"""The platform's guardrails as plain functions, shared by the policy pack and the offline tests.

Every rule has the same shape: `rule(resource_type, props, protect, context) -> list[str]`, where `props` are the
resource's inputs with camelCase keys (what the engine sees, and what pulumi-policy hands a policy), `protect` is
Pulumi's protect option, and `context` carries what the stack asks for (`PolicyContext`). A rule returns one message
per violation, saying what to change; an empty list means the resource complies or the rule does not apply to it.
"""

from __future__ import annotations

import importlib
import inspect
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

Props = Mapping[str, Any]

SQL_INSTANCE = "gcp:sql/databaseInstance:DatabaseInstance"
REDIS_INSTANCE = "gcp:redis/instance:Instance"
REDIS_CLUSTER = "gcp:redis/cluster:Cluster"
BUCKET = "gcp:storage/bucket:Bucket"
BUCKET_MEMBER = "gcp:storage/bucketIAMMember:BucketIAMMember"
BUCKET_BINDING = "gcp:storage/bucketIAMBinding:BucketIAMBinding"
SECRET = "gcp:secretmanager/secret:Secret"
REPOSITORY = "gcp:artifactregistry/repository:Repository"
DATASET = "gcp:bigquery/dataset:Dataset"
CRYPTO_KEY = "gcp:kms/cryptoKey:CryptoKey"
RUN_SERVICE = "gcp:cloudrunv2/service:Service"
RUN_JOB = "gcp:cloudrunv2/job:Job"
RUN_INVOKER_MEMBER = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
RUN_INVOKER_BINDING = "gcp:cloudrunv2/serviceIamBinding:ServiceIamBinding"
SERVERLESS_NEG = "gcp:compute/regionNetworkEndpointGroup:RegionNetworkEndpointGroup"
FIREWALL = "gcp:compute/firewall:Firewall"
TABLE = "gcp:bigquery/table:Table"
TOPIC = "gcp:pubsub/topic:Topic"

REQUIRED_LABELS = ("environment", "managed-by", "cost-center", "component")
PUBLIC_LABEL = ("exposure", "public")  # the label that marks a Cloud Run service as meant for anyone to invoke
PUBLIC_MEMBERS = frozenset({"allUsers", "allAuthenticatedUsers"})
CDN_LABEL = ("exposure", "cdn")  # the label that marks the one bucket the load balancer's Cloud CDN serves to anyone
CDN_READER = "roles/storage.objectViewer"
CMEK_LABEL = ("component", "encryption")  # the customer-managed keys of a stack with CMEK on
GOOGLE_MANAGED = ("encryption", "google-managed")  # a data resource deliberately left on Google-managed encryption
ADMIN_PORTS = {22: "SSH", 3389: "RDP"}
DEFAULT_COMPUTE_SA = re.compile(r"^\d+-compute@developer\.gserviceaccount\.com$")


@dataclass(frozen=True)
class PolicyContext:
    """What the stack asks for, and what a rule about one resource must know about the others."""

    deletion_protection: bool = True  # stateful resources carry the cloud-side deletion protection flag
    protect: bool = False  # stateful resources carry Pulumi's protect option
    public_services: frozenset[str] = frozenset()  # Cloud Run services labelled exposure=public
    load_balanced_services: frozenset[str] = frozenset()  # Cloud Run services behind a serverless NEG
    cdn_buckets: frozenset[str] = frozenset()  # buckets labelled exposure=cdn
    cmek: bool = False  # the stack creates customer-managed keys (component=encryption)

    @classmethod
    def of(cls, resources: Iterable[tuple[str, Props]], *, deletion_protection: bool, protect: bool) -> PolicyContext:
        """The context of one stack, from its resources (type, props) and its protection settings."""
        public: set[str] = set()
        fronted: set[str] = set()
        cdn: set[str] = set()
        cmek = False
        for type_, props in resources:
            cmek = cmek or (type_ == CRYPTO_KEY and _get(props, "labels", CMEK_LABEL[0]) == CMEK_LABEL[1])
            if type_ == RUN_SERVICE and _get(props, "labels", PUBLIC_LABEL[0]) == PUBLIC_LABEL[1]:
                public.add(str(props.get("name")))
            if type_ == SERVERLESS_NEG and _get(props, "cloudRun", "service"):
                fronted.add(str(_get(props, "cloudRun", "service")))
            if type_ == BUCKET and _is_cdn_bucket(props):
                cdn.add(str(props.get("name")))
        return cls(deletion_protection, protect, frozenset(public), frozenset(fronted), frozenset(cdn), cmek)


Check = Callable[[str, Props, bool, PolicyContext], list[str]]


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    check: Check
    needs_stack: bool = False  # reads other resources through the context: runs as a stack policy
    types: frozenset[str] = field(default_factory=frozenset)  # the types it judges; empty: any type

    def __call__(self, resource_type: str, props: Props, protect: bool, context: PolicyContext) -> list[str]:
        if self.types and resource_type not in self.types:
            return []
        return self.check(resource_type, props, protect, context)


def _get(props: Any, *path: str) -> Any:
    """A nested value, or None where any step is missing."""
    value = props
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _is_replica(props: Props) -> bool:
    return bool(props.get("masterInstanceName"))


def cloud_sql_private_ip_only(resource_type: str, props: Props, protect: bool, context: PolicyContext) -> list[str]:
    ip = _get(props, "settings", "ipConfiguration") or {}
    problems = []
    if ip.get("ipv4Enabled") is not False:
        problems.append("Cloud SQL has a public IP: set settings.ip_configuration.ipv4_enabled=False (default is True)")
    if ip.get("authorizedNetworks"):
        problems.append("Cloud SQL lists authorized_networks: remove them; clients reach it over the private network")
    return problems


TLS_SQL_MODES = frozenset({"ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"})


def tls_required(resource_type: str, props: Props, protect: bool, context: PolicyContext) -> list[str]:
    if resource_type == SQL_INSTANCE:
        mode = _get(props, "settings", "ipConfiguration", "sslMode")
        if mode not in TLS_SQL_MODES:
            return [f"Cloud SQL accepts unencrypted connections (ssl_mode={mode}): set ssl_mode=ENCRYPTED_ONLY"]
    elif resource_type == REDIS_INSTANCE:
        mode = props.get("transitEncryptionMode")
        if mode != "SERVER_AUTHENTICATION":
            return [f"Redis accepts plaintext (transit_encryption_mode={mode}): set it to SERVER_AUTHENTICATION"]
    elif resource_type == REDIS_CLUSTER:
        mode = props.get("transitEncryptionMode")
        if mode != "TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION":
            return [f"Redis cluster accepts plaintext (transit_encryption_mode={mode}): enable server authentication"]
    return []


def redis_auth(resource_type: str, props: Props, protect: bool, context: PolicyContext) -> list[str]:
    if resource_type == REDIS_INSTANCE and props.get("authEnabled") is not True:
        return ["Redis AUTH is off: set auth_enabled=True and hand clients the AUTH string through Secret Manager"]
    if resource_type == REDIS_CLUSTER and props.get("authorizationMode") != "AUTH_MODE_IAM_AUTH":
        return ["Redis cluster has no authentication: set authorization_mode=AUTH_MODE_IAM_AUTH"]
    return []


def backups_and_pitr(resource_type: str, props: Props, protect: bool, context: PolicyContext) -> list[str]:
    if _is_replica(props):
        return []  # a read replica is restored from its primary's backups
    backup = _get(props, "settings", "backupConfiguration") or {}
    problems = []
    if backup.get("enabled") is not True:
        problems.append("Cloud SQL backups are off: set settings.backup_configuration.enabled=True")
    version = str(props.get("databaseVersion") or "")
    pitr_key = "binaryLogEnabled" if version.startswith("MYSQL") else "pointInTimeRecoveryEnabled"
    if backup.get(pitr_key) is not True:
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", pitr_key).lower()
        problems.append(f"Cloud SQL point-in-time recovery is off: set settings.backup_configuration.{snake}=True")
    return problems


# Stateful types and the cloud-side flag that keeps them from being deleted: (input, value that protects).
# A `None` input means the type has no such flag; `forceDestroy`-style inputs must stay off instead.
STATEFUL: dict[str, tuple[str, bool] | None] = {
    SQL_INSTANCE: ("deletionProtection", True),
    REDIS_INSTANCE: ("deletionProtection", True),
    REDIS_CLUSTER: ("deletionProtectionEnabled", True),
    SECRET: ("deletionProtection", True),
    BUCKET: ("forceDestroy", False),
    DATASET: ("deleteContentsOnDestroy", False),
    REPOSITORY: None,
    CRYPTO_KEY: None,  # destroying a key loses everything it encrypted
}
# Types kept by `retain_on_delete` instead of `protect`: a key a stack stops needing must leave it without failing
# every update. The policy engine does not see retainOnDelete; tests/test_encryption.py checks every key carries it.
RETAINED = frozenset({CRYPTO_KEY})


def stateful_protected(resource_type: str, props: Props, protect: bool, context: PolicyContext) -> list[str]:
    problems = []
    flag = STATEFUL[resource_type]
    if context.deletion_protection and flag is not None:
        key, safe = flag
        value = props.get(key)
        unsafe = value is not True if safe else value is True
        if unsafe:
            problems.append(f"the stack asks for deletion protection: set {key}={safe} (got {value})")
    if context.protect and not protect and resource_type not in RETAINED:
        problems.append("the stack asks for protect: pass ResourceOptions(protect=True) to this stateful resource")
    return problems


# Where each data type names its customer-managed key.
KEY_PATHS: dict[str, tuple[str, ...]] = {
    SQL_INSTANCE: ("encryptionKeyName",),
    REDIS_INSTANCE: ("customerManagedKey",),
    BUCKET: ("encryption", "defaultKmsKeyName"),
    REPOSITORY: ("kmsKeyName",),
    DATASET: ("defaultEncryptionConfiguration", "kmsKeyName"),
    TABLE: ("encryptionConfiguration", "kmsKeyName"),
    TOPIC: ("kmsKeyName",),
}


def _secret_keys(props: Props) -> list[Any]:
    replication = props.get("replication") or {}
    auto = _get(replication, "auto", "customerManagedEncryption", "kmsKeyName")
    replicas = _get(replication, "userManaged", "replicas") or []
    if _get(replication, "auto") is not None:
        return [auto]
    return [_get(r, "customerManagedEncryption", "kmsKeyName") for r in replicas] or [None]


def cmek_data_encrypted(resource_type: str, props: Props, protect: bool, context: PolicyContext) -> list[str]:
    """With CMEK on, a data resource without a key is a mistake, not a shorter plan line (a dataset outside the
    stack's region used to lose its key silently); a deliberate exception says so in a label."""
    if not context.cmek or _get(props, "labels", GOOGLE_MANAGED[0]) == GOOGLE_MANAGED[1]:
        return []
    keys = _secret_keys(props) if resource_type == SECRET else [_get(props, *KEY_PATHS[resource_type])]
    if all(keys):
        return []
    return [
        "the stack encrypts its data with customer-managed keys (encryption.cmek) but this resource has none: give it "
        f"the key of its location, or label it {GOOGLE_MANAGED[0]}={GOOGLE_MANAGED[1]} if that is deliberate"
    ]


def _is_cdn_bucket(props: Props) -> bool:
    return bool(_get(props, "labels", CDN_LABEL[0]) == CDN_LABEL[1])


def bucket_access(resource_type: str, props: Props, protect: bool, context: PolicyContext) -> list[str]:
    problems = []
    if props.get("uniformBucketLevelAccess") is not True:
        problems.append("bucket allows per-object ACLs: set uniform_bucket_level_access=True")
    if props.get("publicAccessPrevention") != "enforced" and not _is_cdn_bucket(props):
        problems.append(
            "bucket can be made public: set public_access_prevention='enforced' (only the bucket labelled "
            "exposure=cdn, which the load balancer's Cloud CDN serves, may be public)"
        )
    return problems


def public_buckets_only_through_cdn(
    resource_type: str, props: Props, protect: bool, context: PolicyContext
) -> list[str]:
    """allUsers / allAuthenticatedUsers may hold only object read, and only on a bucket labelled exposure=cdn."""
    members = [str(props.get("member"))] if "member" in props else [str(m) for m in props.get("members") or []]
    public = sorted(PUBLIC_MEMBERS.intersection(members))
    if not public:
        return []
    bucket, role = str(props.get("bucket")), props.get("role")
    if role != CDN_READER:
        return [
            f"{', '.join(public)} granted {role} on bucket {bucket}: the public may only read objects ({CDN_READER})"
        ]
    if bucket not in context.cdn_buckets:
        return [f"{', '.join(public)} may read bucket {bucket}, which is not labelled exposure=cdn"]
    return []


def _invoker_members(resource_type: str, props: Props) -> list[str]:
    if props.get("role") != "roles/run.invoker":
        return []
    if resource_type == RUN_INVOKER_MEMBER:
        return [str(props.get("member"))]
    return [str(m) for m in props.get("members") or []]


def no_public_invoker(resource_type: str, props: Props, protect: bool, context: PolicyContext) -> list[str]:
    service = str(props.get("name"))  # a service's name, or the service an IAM member grants access to
    if service in context.public_services:
        return []
    if resource_type == RUN_SERVICE:
        if props.get("invokerIamDisabled") is True:
            return [f"service {service} skips the invoker check but is not labelled exposure=public"]
        return []
    public = sorted(PUBLIC_MEMBERS.intersection(_invoker_members(resource_type, props)))
    if public:
        return [f"{', '.join(public)} may invoke {service}, which is not labelled exposure=public"]
    return []


@cache
def label_path(resource_type: str) -> tuple[str, ...] | None:
    """Where a type takes labels, from the provider SDK; None if it takes none.

    Cloud SQL keeps them in settings.userLabels; Cloud Monitoring in userLabels (its `labels` are channel settings).
    """
    if resource_type == SQL_INSTANCE:
        return ("settings", "userLabels")
    package, _, rest = resource_type.partition(":")[2].partition("/")
    if not resource_type.startswith("gcp:") or ":" not in rest:
        return None
    try:
        module = importlib.import_module(f"pulumi_gcp.{package}")
        parameters = inspect.signature(getattr(module, rest.split(":")[1])._internal_init).parameters
    except (ImportError, AttributeError):
        return None
    for name, path in (("user_labels", ("userLabels",)), ("labels", ("labels",))):
        if name in parameters:
            return path
    return None


def required_labels(resource_type: str, props: Props, protect: bool, context: PolicyContext) -> list[str]:
    path = label_path(resource_type)
    if path is None:
        return []
    labels = _get(props, *path) or {}
    missing = [k for k in REQUIRED_LABELS if not labels.get(k)]
    if missing:
        return [f"labels {', '.join(missing)} missing from {'.'.join(path)}: use naming.labels_for(component)"]
    return []


def no_default_service_account(resource_type: str, props: Props, protect: bool, context: PolicyContext) -> list[str]:
    path = (
        ("template", "serviceAccount") if resource_type == RUN_SERVICE else ("template", "template", "serviceAccount")
    )
    account = _get(props, *path)
    if not account or DEFAULT_COMPUTE_SA.match(str(account)):
        what = "the default compute service account" if account else "no service account (the default compute one)"
        return [f"runs as {what}: give it its own service account with only the roles it needs"]
    return []


def ingress_behind_load_balancer(resource_type: str, props: Props, protect: bool, context: PolicyContext) -> list[str]:
    service = str(props.get("name"))
    ingress = props.get("ingress") or "INGRESS_TRAFFIC_ALL"
    if service in context.load_balanced_services and ingress == "INGRESS_TRAFFIC_ALL":
        return [
            f"service {service} is behind the load balancer but accepts traffic from anywhere, bypassing Cloud Armor: "
            "set ingress=INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
        ]
    return []


def _opens(allow: Mapping[str, Any], port: int) -> bool:
    if allow.get("protocol") not in ("tcp", "all", "6"):
        return False
    ports = allow.get("ports") or []
    if not ports:
        return True  # no ports: every port of the protocol
    for spec in ports:
        low, _, high = str(spec).partition("-")
        if int(low) <= port <= int(high or low):
            return True
    return False


def no_open_admin_ports(resource_type: str, props: Props, protect: bool, context: PolicyContext) -> list[str]:
    if props.get("disabled") is True or (props.get("direction") or "INGRESS") != "INGRESS":
        return []
    anywhere = [r for r in props.get("sourceRanges") or [] if ipaddress.ip_network(r, strict=False).prefixlen == 0]
    if not anywhere:
        return []
    opened = [
        f"{name} ({port})" for port, name in ADMIN_PORTS.items() for a in props.get("allows") or [] if _opens(a, port)
    ]
    if opened:
        return [
            f"opens {', '.join(sorted(set(opened)))} to {', '.join(anywhere)}: use IAP TCP forwarding (35.235.240.0/20)"
        ]
    return []


RULES: tuple[Rule, ...] = (
    Rule(
        "cloud-sql-private-ip-only",
        "Cloud SQL has no public IP",
        cloud_sql_private_ip_only,
        types=frozenset({SQL_INSTANCE}),
    ),
    Rule(
        "tls-required",
        "Databases and Redis accept TLS connections only",
        tls_required,
        types=frozenset({SQL_INSTANCE, REDIS_INSTANCE, REDIS_CLUSTER}),
    ),
    Rule("redis-auth", "Redis requires authentication", redis_auth, types=frozenset({REDIS_INSTANCE, REDIS_CLUSTER})),
    Rule(
        "backups-and-pitr",
        "Cloud SQL backups and point-in-time recovery are on",
        backups_and_pitr,
        types=frozenset({SQL_INSTANCE}),
    ),
    Rule(
        "stateful-resources-protected",
        "Stateful resources carry deletion protection and protect where the stack asks for them",
        stateful_protected,
        types=frozenset(STATEFUL),
    ),
    Rule(
        "bucket-access",
        "Buckets use uniform access and prevent public access",
        bucket_access,
        types=frozenset({BUCKET}),
    ),
    Rule(
        "public-buckets-only-through-cdn",
        "Only the bucket labelled exposure=cdn may be read by allUsers, and only read",
        public_buckets_only_through_cdn,
        needs_stack=True,
        types=frozenset({BUCKET_MEMBER, BUCKET_BINDING}),
    ),
    Rule(
        "cmek-data-encrypted",
        "With CMEK on, every data resource carries a customer-managed key",
        cmek_data_encrypted,
        needs_stack=True,
        types=frozenset({*KEY_PATHS, SECRET}),
    ),
    Rule(
        "no-public-invoker",
        "Only services labelled exposure=public may be invoked by allUsers",
        no_public_invoker,
        needs_stack=True,
        types=frozenset({RUN_SERVICE, RUN_INVOKER_MEMBER, RUN_INVOKER_BINDING}),
    ),
    Rule("required-labels", "Every resource that takes labels carries the platform's labels", required_labels),
    Rule(
        "no-default-service-account",
        "No Cloud Run service or job runs as the default compute service account",
        no_default_service_account,
        types=frozenset({RUN_SERVICE, RUN_JOB}),
    ),
    Rule(
        "ingress-behind-load-balancer",
        "A Cloud Run service behind the load balancer takes traffic only from it",
        ingress_behind_load_balancer,
        needs_stack=True,
        types=frozenset({RUN_SERVICE}),
    ),
    Rule(
        "no-open-admin-ports",
        "No firewall rule opens SSH or RDP to the internet",
        no_open_admin_ports,
        types=frozenset({FIREWALL}),
    ),
)


def violations(
    resources: Iterable[tuple[str, str, Props, bool]], *, deletion_protection: bool, protect: bool
) -> list[tuple[str, str, str]]:
    """Every rule over every resource (name, type, props, protect) of one stack: (rule, resource name, message)."""
    resources = list(resources)
    context = PolicyContext.of(
        ((t, p) for _, t, p, _ in resources), deletion_protection=deletion_protection, protect=protect
    )
    return [
        (rule.name, name, message)
        for rule in RULES
        for name, type_, props, is_protected in resources
        for message in rule(type_, props, is_protected, context)
    ]
