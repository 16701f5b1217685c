"""The stack config, parsed once into typed models before any resource is registered.

Every difference between dev, staging and prod lives in the stack files; this module only knows their shape. A
mistake in a stack file stops the program with one line that names the key and says how to fix it.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import types
import typing
from collections.abc import Iterable, Mapping
from graphlib import CycleError, TopologicalSorter
from typing import Annotated, Any, Union

import pulumi
from pydantic import BaseModel, Field, StringConstraints, ValidationError, model_validator

from components.app_access import bucket_env
from components.app_secrets import VALUE_KEY_PREFIX, AppSecretArgs, SecretKey, secret_value_kind, value_key
from components.audit_logs import AuditLogsArgs
from components.backup import BackupArgs, recovery_objectives, worst_rpo
from components.backup.config import EXPORT_WINDOW
from components.binauthz import BinaryAuthorizationArgs
from components.buckets import Access, BucketArgs
from components.budget import BudgetArgs
from components.cloud_armor import MAX_SUBEXPRESSIONS, AdminAllowList
from components.cloud_run import RESERVED_ENV, ServiceArgs, ServiceName, service_name
from components.cloud_run.config import EnvName
from components.cloud_run.template import upstream_env
from components.config_types import (
    Key,
    LabelKey,
    LabelValue,
    Member,
    Model,
    ProjectId,
    Region,
    SqlIdentifier,
    invalid,
    missing_secret,
)
from components.database import DatabaseArgs
from components.database_schedule import ScheduleArgs
from components.edge import EdgeArgs
from components.encryption import DUAL_REGIONS, EncryptionArgs
from components.events import EventsArgs
from components.events.config import BigQueryArgs, TopicArgs
from components.gke import GkeArgs
from components.internal_tools import OAUTH_SECRET_KEY
from components.load_balancer import LoadBalancerArgs
from components.naming import Naming
from components.network import SERVERLESS_MAX_PREFIX, NetworkArgs
from components.observability import ObservabilityArgs, channels
from components.redis import RedisArgs
from components.registry import RegistryArgs
from components.routing import route_of
from components.secret import SecretsArgs
from components.serving import ServingArgs, region_loss_objectives
from components.warehouse import WarehouseArgs
from components.windows import describe_day, first_outside, first_overlap, first_without

NAMESPACE = "platform"
# Who else reads config keys: the providers this program uses, each from its own namespace (`gcp:project`,
# `cloudflare:apiToken`; the `name` in each provider package's pulumi-plugin.json), and Pulumi itself (`pulumi:`,
# e.g. `pulumi:disable-default-providers`). A key in any other namespace is read by nobody: a typo.
PROVIDER_NAMESPACES = frozenset(("gcp", "cloudflare", "docker", "random", "time", "kubernetes"))
ENGINE_NAMESPACE = "pulumi"

# The columns a BigQuery subscription that writes metadata fills, and the column types each Avro type may land in.
METADATA_COLUMNS = ("subscription_name", "message_id", "publish_time", "attributes")
AVRO_COLUMNS = {
    "string": {"STRING", "JSON"},
    "long": {"INTEGER", "INT64", "NUMERIC", "BIGNUMERIC"},
    "int": {"INTEGER", "INT64", "NUMERIC", "BIGNUMERIC"},
    "boolean": {"BOOLEAN", "BOOL"},
    "double": {"FLOAT", "FLOAT64", "NUMERIC", "BIGNUMERIC"},
    "float": {"FLOAT", "FLOAT64", "NUMERIC", "BIGNUMERIC"},
    "bytes": {"BYTES"},
    "null": set(),
}


class EstimatesArgs(Model):
    """`platform:estimates`: a month of expected usage. Defaults describe a quiet stack; prod states its traffic.

    One traffic profile: `requests_per_month` arrive at the edge (Cloudflare, else the load balancer, else the
    services' own URLs) and reach each service in proportion to its `route_share`. docs/estimates.md says how each
    figure is used.
    """

    requests_per_month: int = Field(1_000_000, ge=0)  # at the edge: what Cloudflare and Cloud Armor see
    # Requests reaching each service per request at the edge, by service (a service called on every API request
    # next to the API gateway has the gateway's share too); empty: the edge's requests split evenly.
    route_share: dict[ServiceName, Annotated[float, Field(ge=0, le=10)]] = {}
    avg_request_ms: int = Field(200, ge=1, le=3_600_000)  # time a request keeps an instance busy
    ingress_gb: float = Field(1, ge=0)  # request bytes the load balancer processes
    egress_gb: float = Field(10, ge=0)  # response bytes leaving Google Cloud for the internet (or Cloudflare)
    nat_instances: int = Field(1, ge=0)  # instances egressing through Cloud NAT at a time, on average
    nat_gb: float = Field(5, ge=0)  # data through Cloud NAT (calls to third-party APIs)
    log_gb: float = Field(10, ge=0)  # log volume ingested into Cloud Logging, network logs excluded
    network_log_gb: float = Field(1, ge=0)  # VPC flow logs, firewall rule logs and NAT logs
    database_gb: float | None = Field(None, ge=0)  # data in Cloud SQL; None: the size of the disk
    database_change_gb_per_day: float = Field(0.2, ge=0)  # written a day: incremental backups, WAL, replication
    bucket_gb: float = Field(10, ge=0)  # stored in each Cloud Storage bucket
    artifact_gb: float = Field(2, ge=0)  # container images in each Artifact Registry repository
    images_pushed_per_month: int = Field(10, ge=0)  # new image digests, each scanned once when scanning is on
    bigquery_gb: float = Field(5, ge=0)  # active storage in each BigQuery dataset outside the warehouse (logs)
    warehouse_gb: float = Field(10, ge=0)  # active storage in each warehouse dataset
    warehouse_query_tib: float = Field(0.5, ge=0)  # data the warehouse's on-demand queries scan, in TiB
    secret_accesses_per_month: int = Field(100_000, ge=0)  # Secret Manager access operations
    kms_operations_per_month: int = Field(100_000, ge=0)  # encrypt/decrypt calls on each customer-managed key
    # Published to each Pub/Sub topic (not a budget's); each subscription receives it too.
    pubsub_gib: float = Field(1, ge=0)
    dead_letter_gib: float = Field(0.01, ge=0)  # forwarded to each dead-letter topic (and kept by its subscription)
    gke_autopilot_vcpus: float = Field(2, ge=0)  # Pod vCPU requests on an Autopilot cluster, on average
    gke_autopilot_memory_gib: float = Field(8, ge=0)  # Pod memory requests on an Autopilot cluster, on average
    worker_cpu_ms: float = Field(2, ge=0)  # CPU time of the edge Worker per request
    # Whether other projects on this stack's billing account use up its free tiers (Cloud Run, Secret Manager, ...):
    # true for all stacks sharing an account but one, so that the account's free tiers are counted once.
    shares_billing_account: bool = False
    budget_usd: float | None = Field(None, gt=0)  # warn above this when the program creates no billing budget

    @model_validator(mode="before")
    @classmethod
    def _removed_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and "cloudflare_plan" in data:
            invalid("cloudflare_plan", "is no longer read: the estimate prices the zone's plan, edge.plan; remove it")
        if isinstance(data, dict) and "database_backup_gb" in data:
            invalid(
                "database_backup_gb",
                "is no longer read: backups are priced from database_gb and database_change_gb_per_day; remove it",
            )
        return data


class GcpArgs(Model):
    project: ProjectId
    region: Region


class ProtectionArgs(Model):
    deletion_protection: bool = True  # the cloud-side flag on databases, instances, buckets
    protect: bool = False  # Pulumi's protect: `pulumi destroy` refuses until it is lifted


class ServiceConfig(ServiceArgs):
    """A service as the stack file states it: the component's own settings, plus how it is wired to the rest."""

    behind_load_balancer: bool = False  # served through the global HTTPS load balancer (Cloud Armor in front)
    invokers: list[ServiceName] = []  # other services allowed to call this one (roles/run.invoker on their account)
    database: SqlIdentifier | None = None  # the Cloud SQL database it uses
    redis: bool = False  # whether it uses the platform's Redis
    secrets: dict[EnvName, SecretKey] = {}  # env name -> the app secret (platform:app_secrets) it carries
    buckets: dict[Key, Access] = {}  # application bucket (platform:buckets) -> the object role it holds there

    @model_validator(mode="after")
    def _secrets_and_buckets_in_env(self) -> ServiceConfig:
        for name, value in self.env.items():
            kind = secret_value_kind(value)
            if kind:
                invalid(
                    f"env.{name}",
                    f"its value looks like {kind}; plain env is readable by anyone who can read the service or this "
                    f"file: keep it in platform:app_secrets and name it under secrets: {{{name}: <secret>}}",
                )
        for name in self.secrets:
            if name in RESERVED_ENV:
                invalid(f"secrets.{name}", f"{name} is set by Cloud Run or from the data bindings; use another name")
            if name in self.env:
                invalid(f"secrets.{name}", f"{name} is also a plain env value; keep one of them")
        for bucket in self.buckets:
            if bucket_env(bucket) in {*self.env, *self.secrets}:
                invalid(
                    f"buckets.{bucket}",
                    f"its name is passed in {bucket_env(bucket)}, which env or secrets already sets; rename one",
                )
        return self

    @model_validator(mode="after")
    def _exposure(self) -> ServiceConfig:
        if self.behind_load_balancer and self.ingress != "internal-and-lb":
            invalid(
                "ingress",
                f"a service behind the load balancer needs ingress: internal-and-lb (got {self.ingress}), so no "
                "client can bypass Cloud Armor through the run.app URL",
            )
        if self.ingress == "internal-and-lb" and not self.behind_load_balancer:
            invalid(
                "ingress",
                "ingress internal-and-lb is for services behind the load balancer; set "
                "behind_load_balancer: true or ingress: internal",
            )
        if self.public and not self.behind_load_balancer and self.ingress != "all":
            invalid("public", f"a public service not behind the load balancer needs ingress: all (got {self.ingress})")
        if self.migrations is not None and self.database is None:
            invalid("migrations", "migrations need the service's database; set database: <name>")
        return self


class StackConfig(Model):
    gcp: GcpArgs
    prefix: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9]{1,11}$")]
    cost_center: LabelValue
    labels: dict[LabelKey, LabelValue] = {}
    # The identity that runs `pulumi up` for the stack (its deployer, from the bootstrap): it gets actAs on each runtime
    # service account the program creates, and on nothing else.
    deployer: Member
    protection: ProtectionArgs = ProtectionArgs()
    network: NetworkArgs
    secrets: SecretsArgs = SecretsArgs()
    database: DatabaseArgs
    redis: RedisArgs = RedisArgs()
    load_balancer: LoadBalancerArgs = LoadBalancerArgs()
    serving: ServingArgs = ServingArgs()  # the regions besides gcp.region every service also runs in
    estimates: EstimatesArgs = EstimatesArgs()
    schedule: ScheduleArgs = ScheduleArgs()
    observability: ObservabilityArgs
    budget: BudgetArgs
    audit_logs: AuditLogsArgs = AuditLogsArgs()
    backup: BackupArgs
    edge: EdgeArgs | None = None  # the Cloudflare edge; a stack without it has none
    registry: RegistryArgs = RegistryArgs()
    encryption: EncryptionArgs = EncryptionArgs()  # customer-managed keys for the data services (CMEK)
    app_secrets: dict[SecretKey, AppSecretArgs] = {}  # the services' own secrets; services name them under secrets
    buckets: dict[Key, BucketArgs] = {}  # application buckets; services name them under buckets
    services: dict[ServiceName, ServiceConfig] = {}
    events: EventsArgs | None = None  # Pub/Sub topics and subscriptions; a stack without it has none
    warehouse: WarehouseArgs | None = None  # BigQuery datasets and tables; a stack without it has none
    gke: GkeArgs | None = None  # the Kubernetes runtime; a stack may run Cloud Run services, GKE, or both
    binary_authorization: BinaryAuthorizationArgs | None = None  # the project's image policy and the attestor

    @model_validator(mode="after")
    def _database_in_region(self) -> StackConfig:
        self.database.check_region(self.gcp.region, key="database")
        return self

    @model_validator(mode="after")
    def _subnets_in_their_regions(self) -> StackConfig:
        """The serverless subnet of the stack's region is in that region; each other serving region names a subnet of
        its own, big enough for Direct VPC egress (a service takes addresses from a subnet of its own region)."""
        region, subnets = self.gcp.region, self.network.subnets
        primary = self.network.serverless_subnet
        if (subnets[primary].region or region) != region:
            invalid(
                f"network.subnets.{primary}.region",
                f"network.serverless_subnet '{primary}' is in {subnets[primary].region}, but the services of the "
                f"stack's region ({region}) take their addresses from it; remove region or name another subnet",
            )
        for other, serving in self.serving.regions.items():
            key = f"serving.regions.{other}"
            if other == region:
                invalid(key, f"{other} is the stack's region (gcp.region), which always serves; list only the others")
            subnet = subnets.get(serving.serverless_subnet)
            if subnet is None:
                invalid(
                    f"{key}.serverless_subnet",
                    f"'{serving.serverless_subnet}' is not one of network.subnets: {', '.join(subnets)}; add a subnet "
                    f"with region: {other}",
                )
            if (subnet.region or region) != other:
                invalid(
                    f"{key}.serverless_subnet",
                    f"network.subnets.{serving.serverless_subnet} is in {subnet.region or region}, not {other}; Direct "
                    f"VPC egress takes addresses from a subnet of the service's own region: set its region: {other}",
                )
            prefix = ipaddress.ip_network(subnet.cidr).prefixlen
            if prefix > SERVERLESS_MAX_PREFIX:
                invalid(
                    f"network.subnets.{serving.serverless_subnet}.cidr",
                    f"/{prefix} is too small for Direct VPC egress; use /{SERVERLESS_MAX_PREFIX} or larger",
                )
        return self

    @model_validator(mode="after")
    def _serving_regions_can_take_over(self) -> StackConfig:
        """A second region is worth serving from only if it can take over: the load balancer fails over between the
        regions, Cloud Run service health needs a warm instance in each, the database has a replica to promote there,
        and the secrets the services read are kept there."""
        others = list(self.serving.regions)
        if not others:
            return self
        if not self.load_balancer.enabled:
            invalid(
                "serving.regions",
                "the global load balancer is what sends users to a healthy region; set load_balancer.enabled: true "
                "or remove serving.regions",
            )
        for name, service in self.services.items():
            if service.behind_load_balancer and service.min_instances < 1:
                invalid(
                    f"services.{name}.min_instances",
                    "Cloud Run service health computes a region's health from its instances' readiness probes and "
                    "needs at least one minimum instance in each region; set min_instances: 1 or more",
                )
        standby = [r.region for r in self.database.replicas.values() if r.disaster_recovery and r.region in others]
        if not standby:
            invalid(
                "serving.regions",
                f"the services in {', '.join(others)} would have no database if {self.gcp.region} is lost: add a "
                "database.replicas entry with disaster_recovery: true in one of them",
            )
        missing = [r for r in others if self.secrets.replicas and r not in self.secrets.replicas]
        if missing:
            invalid(
                "secrets.replicas",
                f"the services also run in {', '.join(missing)}, where no secret is replicated, so losing "
                f"{self.gcp.region} would leave them without their secrets; add {', '.join(missing)}",
            )
        return self

    @model_validator(mode="after")
    def _services_call_each_other(self) -> StackConfig:
        services = self.services
        for name, service in services.items():
            for caller in service.invokers:
                if caller == name or caller not in services:
                    invalid(f"services.{name}.invokers", f"'{caller}' is not another service: {', '.join(services)}")
                if service.ingress != "all" and services[caller].egress != "all-traffic":
                    invalid(
                        f"services.{caller}.egress",
                        f"{caller} calls {name}, whose ingress is {service.ingress}; only requests routed through the "
                        "VPC count as internal, so set egress: all-traffic",
                    )
        for name, service in services.items():
            callees = [callee for callee, other in services.items() if name in other.invokers]
            for callee in callees:
                env = upstream_env(callee)
                if env in service.env or env in service.secrets:
                    where = "env" if env in service.env else "secrets"
                    invalid(
                        f"services.{name}.{where}.{env}",
                        f"{env} carries the URL of {callee}, which {name} calls (set by the platform, the copy in "
                        "the caller's own region); use another name",
                    )
        owners = [name for name, service in services.items() if service.migrations is not None]
        if len(owners) > 1:
            invalid(f"services.{owners[1]}.migrations", f"only one service runs migrations; {owners[0]} already does")
        try:
            self.service_order()
        except CycleError as err:
            invalid("services", f"services invoke each other in a cycle ({' -> '.join(err.args[1])}); break it")
        return self

    @model_validator(mode="after")
    def _services_fit_together(self) -> StackConfig:
        for name, service in self.services.items():
            if service.database is not None and service.database not in self.database.databases:
                invalid(
                    f"services.{name}.database",
                    f"'{service.database}' is not one of database.databases: {', '.join(self.database.databases)}",
                )
        served = set(self.load_balancer.services) if self.load_balancer.enabled else set()
        for name in sorted(served - set(self.services)):
            invalid("load_balancer.services", self._unknown_service(name, "remove it from load_balancer.services"))
        for name, service in self.services.items():
            if service.behind_load_balancer != (name in served):
                invalid(
                    f"services.{name}.behind_load_balancer",
                    f"set it to {name in served} to match load_balancer.services (and load_balancer.enabled)",
                )
        for name, service in self.services.items():
            if service.public and service.behind_load_balancer and self.public_domain(name) is None:
                invalid(
                    f"services.{name}",
                    f"no load_balancer domain routes {service.health_path} to {name}, so its uptime check has nowhere "
                    "to call; give it a domain in load_balancer.routes.<name>.hosts (without paths)",
                )
        return self

    @model_validator(mode="after")
    def _edge_origin_services_are_reachable(self) -> StackConfig:
        """A `{service: <name>}` origin is fetched at its run.app URL, from Cloudflare, over the internet."""
        if self.edge is None:
            return self
        for key, name in self.edge.worker.service_origins().items():
            service = self.services.get(name)
            if service is None:
                invalid(
                    f"edge.worker.origins.{key}.service",
                    self._unknown_service(name, "give this origin as https://<hostname> instead"),
                )
            if not (service.public and service.ingress == "all"):
                invalid(
                    f"edge.worker.origins.{key}.service",
                    f"the Worker fetches {name} at its run.app URL from the internet; it needs public: true and "
                    f"ingress: all (got public: {str(service.public).lower()}, ingress: {service.ingress})",
                )
        return self

    @model_validator(mode="after")
    def _edge_fronts_the_load_balancer(self) -> StackConfig:
        """The edge's `dns` hostnames are proxied A records to the load balancer: they need one, with a certificate
        for each, authorized through DNS because the names resolve to Cloudflare."""
        if self.edge is None:
            return self
        lb = self.load_balancer
        dns = self.edge.mode_of("dns")
        if not lb.enabled:
            if dns:
                invalid(
                    f"edge.hostnames.{dns[0]}.mode",
                    "mode dns is a proxied record to the load balancer, and load_balancer.enabled is false; "
                    "use worker_custom_domain (with a {service: <name>} origin) or enable the load balancer",
                )
            return self
        for domain in lb.domains:
            if domain not in dns:
                invalid(
                    "load_balancer.domains",
                    f"'{domain}' is not an edge hostname with mode dns; add it to edge.hostnames as {{mode: dns}} "
                    "so the edge sends its requests to the load balancer",
                )
        for host in dns:
            if host not in lb.domains:
                invalid(
                    f"edge.hostnames.{host}",
                    f"'{host}' points at the load balancer but is not in load_balancer.domains, so it has no "
                    "certificate there; add it to load_balancer.domains",
                )
        if lb.certificate_authorization != "dns":
            invalid(
                "load_balancer.certificate_authorization",
                "the edge proxies the load balancer's domains, so they resolve to Cloudflare and load balancer "
                "authorization never completes; use dns (the edge publishes the CNAME records)",
            )
        return self

    @model_validator(mode="after")
    def _only_the_edge_reaches_the_load_balancer(self) -> StackConfig:
        """With cloudflare_only the load balancer admits only requests carrying the origin token, which only the edge
        Worker sends: every hostname proxied to it must reach it through the Worker."""
        lb = self.load_balancer
        if not (lb.enabled and lb.security.cloudflare_only):
            return self
        if self.edge is None:
            invalid(
                "load_balancer.security.cloudflare_only",
                "the load balancer would admit only requests carrying the origin token the edge Worker sends, and "
                "this stack has no platform:edge; add the edge or set cloudflare_only: false",
            )
        # A Worker origin too: visitors and uptime checks call it directly, not only the Worker.
        through_worker = set(self.edge.passthrough_hosts(every_path=True))
        for host in self.edge.mode_of("dns"):
            if host not in through_worker:
                invalid(
                    f"edge.hostnames.{host}",
                    f"requests for '{host}' would reach the load balancer without the origin token and get 403; add "
                    f"a worker.routes entry '{host}/*' (the Worker sends them on to it with the token)",
                )
        return self

    @model_validator(mode="after")
    def _admin_allow_list_fits_one_armor_rule(self) -> StackConfig:
        admin = self.admin_allow_list()
        if self.load_balancer.enabled and admin and admin.subexpressions > MAX_SUBEXPRESSIONS:
            invalid(
                "edge.waf.admin.allowed_cidrs",
                f"the load balancer repeats the admin allow-list in one Cloud Armor rule of at most "
                f"{MAX_SUBEXPRESSIONS} subexpressions, one per path and one per network (got {admin.subexpressions}); "
                "list fewer paths or networks (a wider network covers several)",
            )
        return self

    @model_validator(mode="after")
    def _backup_outside_the_region(self) -> StackConfig:
        if self.backup.location == self.gcp.region:
            invalid(
                "backup.location",
                f"'{self.backup.location}' is the stack's region (gcp.region); backups must survive its loss: "
                "use another region or a dual-region",
            )
        return self

    @model_validator(mode="after")
    def _recovery_point_kept(self) -> StackConfig:
        """A promised recovery point is one the stack's data protection keeps, in place and at a region loss."""
        target = self.backup.rpo_target_minutes
        worst = worst_rpo(self.recovery_objectives())
        if target is not None and worst is not None and worst[0] > target:
            invalid(
                "backup.rpo_target_minutes",
                f"{target} minutes are promised, and this stack can lose {worst[0]} minutes of data ({worst[1]}); "
                "turn on database.backups.point_in_time_recovery, add a replica in another region, export every day "
                "(backup.exports.days), or promise less",
            )
        return self

    @model_validator(mode="after")
    def _exports_clear_of_backups_and_maintenance(self) -> StackConfig:
        """Cloud SQL runs one operation at a time: an export that starts during a backup or maintenance fails."""
        exports = self.backup.exports.window(len(self.database.databases))
        others = {
            "database.backups.start_time": self.database.backups.window(),
            "database.maintenance": self.database.maintenance.window(),
        }
        for key, other in others.items():
            when = first_overlap(exports, other) if other is not None else None
            if other is not None and when is not None:
                invalid(
                    "backup.exports.time",
                    f"exports {exports.describe()} ({EXPORT_WINDOW}) overlap {key} "
                    f"({other.describe()}) on {describe_day(when, exports.time_zone)}; Cloud SQL runs one operation "
                    "at a time, so move backup.exports.time clear of it",
                )
        return self

    @model_validator(mode="after")
    def _data_operations_while_the_database_runs(self) -> StackConfig:
        """A stopped instance takes no backup and cannot be exported: both must happen within its office hours."""
        hours = self.schedule.database_office_hours
        if hours is None:
            return self
        running = hours.running()
        backups = self.database.backups.window()
        day = first_without(running, backups) if backups is not None else None
        if backups is not None and day is not None:
            invalid(
                "database.backups.start_time",
                f"the backup window {backups.describe()} does not fall within schedule.database_office_hours "
                f"({running.describe()}, once started) on {describe_day(day, running.time_zone)}; Cloud SQL takes no "
                "backup of a stopped instance, so start the window (UTC, four hours long) within those hours",
            )
        exports = self.backup.exports.window(len(self.database.databases))
        when = first_outside(exports, running)
        if when is not None:
            invalid(
                "backup.exports.time",
                f"exports {exports.describe()} ({EXPORT_WINDOW}) fall outside "
                f"schedule.database_office_hours ({running.describe()}, once started) on "
                f"{describe_day(when, exports.time_zone)}, when the instance is stopped; set backup.exports.time and "
                "backup.exports.days within those hours",
            )
        return self

    @model_validator(mode="after")
    def _cmek_buckets_are_regional_or_multi_regional(self) -> StackConfig:
        """Where a dual-region bucket's key must be is not established (KMS has its own multi-regions, such as nam4),
        so CMEK refuses a dual-region rather than hand Cloud Storage a key it may reject."""
        if not self.encryption.cmek:
            return self
        locations = {f"buckets.{key}.location": b.location for key, b in self.buckets.items()}
        for path, location in {**locations, "backup.location": self.backup.location}.items():
            if location is not None and location.upper() in DUAL_REGIONS:
                invalid(
                    path,
                    f"{location} is a dual-region, whose CMEK key location is not established; with "
                    "encryption.cmek use a region or a multi-region (EU, US, ASIA)",
                )
        return self

    @model_validator(mode="after")
    def _app_secrets_and_buckets_are_defined(self) -> StackConfig:
        for name, service in self.services.items():
            for env, key in service.secrets.items():
                if key not in self.app_secrets:
                    invalid(
                        f"services.{name}.secrets.{env}",
                        f"'{key}' is not defined in app_secrets ({', '.join(self.app_secrets) or 'none'}); define it "
                        "there (created by the stack, or existing: <secret>)",
                    )
            for bucket in service.buckets:
                if bucket not in self.buckets:
                    invalid(
                        f"services.{name}.buckets.{bucket}",
                        f"'{bucket}' is not defined in buckets ({', '.join(self.buckets) or 'none'}); define it there",
                    )
        for key, secret in self.app_secrets.items():
            path = secret.secret_path(self.gcp.project) if secret.existing is not None else None
            if path is not None and not path.startswith(f"projects/{self.gcp.project}/"):
                invalid(
                    f"app_secrets.{key}.existing",
                    f"{path} is in another project: the deployer may grant access to secrets of "
                    f"{self.gcp.project} only; copy the secret into this project (or have its owner grant the services "
                    "access and read it from the code)",
                )
        return self

    @model_validator(mode="after")
    def _public_buckets_only_through_the_cdn(self) -> StackConfig:
        public = [key for key, bucket in self.buckets.items() if bucket.public_through_cdn]
        cdn = self.load_balancer.enabled and self.load_balancer.cdn.enabled
        if public and not cdn:
            invalid(
                f"buckets.{public[0]}.public_through_cdn",
                "a bucket is public only through the load balancer's Cloud CDN, which this stack does not enable "
                "(load_balancer.enabled and load_balancer.cdn.enabled); enable it or set public_through_cdn: false",
            )
        if len(public) > 1:
            invalid(
                f"buckets.{public[1]}.public_through_cdn",
                f"the load balancer serves one bucket through Cloud CDN, and {public[0]} already is it",
            )
        return self

    @model_validator(mode="after")
    def _pgaudit_is_logged(self) -> StackConfig:
        """pgAudit writes to the project's Data Access audit logs of Cloud SQL, which are off unless enabled."""
        logs = self.audit_logs
        if self.database.pgaudit and not (
            "cloudsql.googleapis.com" in logs.services and {"DATA_READ", "DATA_WRITE"} <= set(logs.log_types)
        ):
            invalid(
                "database.pgaudit",
                "pgAudit writes Cloud SQL's Data Access audit logs; add cloudsql.googleapis.com to audit_logs.services "
                "with DATA_READ and DATA_WRITE in audit_logs.log_types, or set pgaudit: false",
            )
        return self

    def _unknown_service(self, name: str, alternative: str) -> str:
        """Why `name` is not a service, and the fix (also when the stack defines no service at all)."""
        if not self.services:
            return f"'{name}' is not one of services, which is empty; define {name} under services, or {alternative}"
        return f"'{name}' is not one of services: {', '.join(self.services)}; define it there, or {alternative}"

    @model_validator(mode="after")
    def _events_reach_services_and_tables(self) -> StackConfig:
        """Publishers and pullers are Cloud Run services or GKE workloads of the stack, pushes go to services; a
        BigQuery subscription writes into a warehouse table whose columns take its messages. Pushes go to a service's
        run.app URL, which every ingress setting admits from Pub/Sub in the same project, so no ingress is refused."""
        if self.events is None:
            return self
        workloads = set(self.gke.workloads) if self.gke else set()
        for name in sorted(workloads & set(self.services)):
            invalid(
                f"gke.workloads.{name}",
                f"'{name}' is also a Cloud Run service, and platform:events names publishers and pullers by name; "
                "rename one of them",
            )
        for t, topic in self.events.topics.items():
            for name in topic.publishers:
                self._account(f"events.topics.{t}.publishers", name, workloads)
            for s, subscription in topic.subscriptions.items():
                key = f"events.topics.{t}.subscriptions.{s}"
                if subscription.push is not None and subscription.push.service in workloads:
                    invalid(
                        f"{key}.push.service",
                        f"'{subscription.push.service}' is a GKE workload, and push delivers to a Cloud Run "
                        "service's URL; use pull: {service: <workload>}",
                    )
                if subscription.push is not None:
                    self._service(f"{key}.push.service", subscription.push.service)
                if subscription.pull is not None:
                    self._account(f"{key}.pull.service", subscription.pull.service, workloads)
                if subscription.bigquery is not None:
                    self._writes_into_table(f"{key}.bigquery", topic, subscription.bigquery)
        return self

    def _service(self, key: str, name: str) -> None:
        if name not in self.services:
            invalid(key, f"'{name}' is not one of services: {', '.join(self.services)}")

    def _account(self, key: str, name: str, workloads: set[str]) -> None:
        """`name` is a Cloud Run service or a GKE workload: something with an account to grant."""
        if not workloads:
            self._service(key, name)
        elif name not in self.services and name not in workloads:
            invalid(
                key,
                f"'{name}' is neither one of services ({', '.join(self.services) or 'none'}) nor of "
                f"gke.workloads ({', '.join(sorted(workloads))})",
            )

    def _writes_into_table(self, key: str, topic: TopicArgs, bigquery: BigQueryArgs) -> None:
        table = self.warehouse.table(bigquery.table) if self.warehouse else None
        if self.warehouse is None or table is None:
            known = ", ".join(self.warehouse.table_refs()) if self.warehouse else "none (no warehouse section)"
            invalid(f"{key}.table", f"'{bigquery.table}' is not a warehouse table (dataset.table): {known}")
        columns = table.columns
        if bigquery.write_metadata:
            missing = [c for c in METADATA_COLUMNS if c not in columns]
            if missing:
                invalid(
                    f"{key}.write_metadata",
                    f"{table.schema_file} lacks the metadata columns {', '.join(missing)}; add them or set "
                    "write_metadata: false",
                )
        fields = topic.avro_fields or {}
        if not bigquery.drop_unknown_fields:
            unknown = sorted(f for f in fields if f not in columns)
            if unknown:
                invalid(
                    f"{key}.table",
                    f"the topic's schema has fields {', '.join(unknown)} that {table.schema_file} lacks; such messages "
                    "would stay undelivered: add the columns or set drop_unknown_fields: true",
                )
        wrong = sorted(f for f, kind in fields.items() if f in columns and columns[f][0] not in AVRO_COLUMNS[kind])
        if wrong:
            invalid(f"{key}.table", f"columns {', '.join(wrong)} of {table.schema_file} do not take the topic's types")

    @model_validator(mode="after")
    def _warehouse_access_is_for_services(self) -> StackConfig:
        for d, dataset in (self.warehouse.datasets if self.warehouse else {}).items():
            for name in dataset.access:
                self._service(f"warehouse.datasets.{d}.access.{name}", name)
        return self

    @model_validator(mode="after")
    def _gke_fits_the_stack(self) -> StackConfig:
        gke = self.gke
        if gke is None:
            return self
        if gke.location is not None and gke.location != self.gcp.region:
            invalid("gke.location", f"'{gke.location}' is not the stack's region ({self.gcp.region}); leave it out")
        subnet = self.network.subnets.get(gke.subnet)
        if subnet is None:
            invalid("gke.subnet", f"'{gke.subnet}' is not one of network.subnets: {', '.join(self.network.subnets)}")
        for key in ("pods_range", "services_range"):
            name = getattr(gke, key)
            if name not in subnet.secondary_ranges:
                known = ", ".join(subnet.secondary_ranges) or "none"
                invalid(
                    f"gke.{key}",
                    f"'{name}' is not a secondary range of network.subnets.{gke.subnet} (it has: {known}); add it "
                    "under secondary_ranges",
                )
        if gke.pods_range == gke.services_range:
            invalid("gke.services_range", "Pods and Services need two different secondary ranges")
        for name, workload in gke.workloads.items():
            if workload.database is not None and workload.database not in self.database.databases:
                invalid(
                    f"gke.workloads.{name}.database",
                    f"'{workload.database}' is not one of database.databases: {', '.join(self.database.databases)}",
                )
            for bucket in workload.buckets:
                if bucket not in self.buckets:
                    invalid(
                        f"gke.workloads.{name}.buckets.{bucket}",
                        f"'{bucket}' is not defined in buckets ({', '.join(self.buckets) or 'none'}); define it there",
                    )
        if self.binary_authorization is None:
            invalid("binary_authorization", "a GKE cluster enforces the project's policy; configure it")
        return self

    @model_validator(mode="after")
    def _signers_exist(self) -> StackConfig:
        """IAM refuses a grant to a service account that does not exist, and the program creates no signing account:
        the one service account that exists to sign is the stack's deployer, which builds and deploys in CI."""
        for i, signer in enumerate(self.binary_authorization.signers if self.binary_authorization else []):
            if signer.startswith("serviceAccount:") and signer != self.deployer:
                invalid(
                    f"binary_authorization.signers.{i}",
                    f"{signer} is not the stack's deployer ({self.deployer}), the one service account that signs in "
                    "CI; name the deployer, or a group or user",
                )
        return self

    @model_validator(mode="after")
    def _protected_stacks_run_what_was_reviewed(self) -> StackConfig:
        """A protected stack's control plane has no public endpoint, its images are signed, and Argo CD applies
        nothing nobody synced."""
        if not self.protection.protect:
            return self
        if self.gke is not None:
            if not self.gke.control_plane.private_endpoint:
                invalid(
                    "gke.control_plane.private_endpoint",
                    "a protected stack's control plane has no public endpoint; set it to true (CI reaches the DNS "
                    "endpoint)",
                )
            for key, app in (self.gke.argocd.applications if self.gke.argocd else {}).items():
                if app.sync != "manual":
                    invalid(f"gke.argocd.applications.{key}.sync", "a protected stack syncs manually; set manual")
        if self.binary_authorization is not None and self.binary_authorization.mode != "enforce":
            invalid(
                "binary_authorization.mode",
                "a protected stack runs only images its attestor signed; set enforce "
                f"(got {self.binary_authorization.mode})",
            )
        return self

    @model_validator(mode="after")
    def _route_shares_name_every_service(self) -> StackConfig:
        shares = self.estimates.route_share
        for name in shares:
            if name not in self.services:
                invalid(f"estimates.route_share.{name}", f"'{name}' is not one of services: {', '.join(self.services)}")
        missing = [name for name in self.services if shares and name not in shares]
        if missing:
            invalid(
                "estimates.route_share",
                f"give every service its share of the edge's requests (missing: {', '.join(missing)}; 0 for none)",
            )
        return self

    def unused_app_secrets(self) -> list[str]:
        """App secrets no service names: kept (a service may be about to use one), but worth a warning."""
        named = {key for service in self.services.values() for key in service.secrets.values()}
        return sorted(set(self.app_secrets) - named)

    def cdn_bucket(self) -> str | None:
        """The application bucket the load balancer's Cloud CDN serves, if config makes one public through it."""
        return next((key for key, bucket in self.buckets.items() if bucket.public_through_cdn), None)

    def encryption_needs(self) -> dict[str, set[str]]:
        """Where each data service keeps data (service -> the locations its resources name), for one key per service
        and location: replicas, secret replicas, the backup bucket's DR location, every bucket's and dataset's own.
        A service that keeps nothing in the stack gets no key (a key version is billed whether used or not)."""
        region = self.gcp.region
        storage = {self.backup.location, *(b.location or region for b in self.buckets.values())}
        if self.load_balancer.enabled and self.load_balancer.cdn.enabled and self.cdn_bucket() is None:
            storage.add(self.load_balancer.cdn.location)
        needs = {
            "sql": {region, *(r.region for r in self.database.replicas.values())},
            "redis": {region},
            "storage": storage,
            "secretmanager": set(self.secrets.replicas) or {"global"},
        }
        if self.warehouse is not None:
            needs["bigquery"] = {d.location or region for d in self.warehouse.datasets.values()}
        rotating = any(s.rotation_days is not None for s in self.app_secrets.values())
        if self.events is not None or rotating or self.budget.billing_account is not None:
            needs["pubsub"] = {region}  # the event bus, the secret rotation topic, the budget's topic
        if self.registry.shared is None:
            needs["artifactregistry"] = {region}
        return needs

    def cross_region_replica(self) -> bool:
        """Whether a database replica runs outside the stack's region (what a region loss leaves)."""
        return any(r.region != self.gcp.region for r in self.database.replicas.values())

    def recovery_objectives(self) -> dict[str, Any]:
        """What the stack's data protection promises, from config alone: the Backup component's figures, and what
        losing the stack's region costs with the regions the services run in (the `recovery_objectives` output)."""
        return {
            **recovery_objectives(
                pitr=self.database.backups.point_in_time_recovery,
                dr_replica=self.cross_region_replica(),
                export_interval_hours=self.backup.exports.interval_hours,
                rto_minutes=self.backup.rto_minutes,
                rpo_target_minutes=self.backup.rpo_target_minutes,
            ),
            **region_loss_objectives(
                serving_regions=self.load_balanced_regions(),  # a region being retired takes over nothing
                database_region=self.gcp.region,
                dr_replica_regions=[r.region for r in self.database.replicas.values() if r.disaster_recovery],
                redis_export_hours=self.backup.exports.interval_hours,
                cloud_run=bool(self.services),
                uses_redis=any(s.redis for s in self.services.values()),
            ),
        }

    def upstreams(self, name: str) -> list[str]:
        """The services `name` calls: those whose invokers list it."""
        return sorted(callee for callee, service in self.services.items() if name in service.invokers)

    def load_balanced_regions(self) -> list[str]:
        """The serving regions with a serverless NEG behind the load balancer: all but those being retired."""
        return [region for region in self.serving_regions() if region not in self.serving.retiring()]

    def serving_regions(self) -> list[str]:
        """Every region the services run in, the stack's first."""
        return self.serving.all_regions(self.gcp.region)

    def service_order(self) -> list[str]:
        """Callers before the services they call: a callee's invoker binding names the caller's service account."""
        graph = {name: set(service.invokers) for name, service in self.services.items()}
        return list(TopologicalSorter(graph).static_order())

    def public_domain(self, service: str) -> str | None:
        """The load balancer domain users call `service` on: the first whose URL map sends its health path to it."""
        config = self.services[service]
        if not (self.load_balancer.enabled and config.behind_load_balancer):
            return None
        target = {host: route_of(m, config.health_path) for m in self.load_balancer.routing() for host in m.hosts}
        return next((domain for domain in self.load_balancer.domains if target[domain] == service), None)

    def admin_allow_list(self) -> AdminAllowList | None:
        """The edge's admin allow-list, for the load balancer to repeat; None when the edge only challenges."""
        admin = self.edge.waf.admin if self.edge else None
        if admin is None or not admin.allowed_cidrs:
            return None
        return AdminAllowList(paths=tuple(admin.paths), networks=tuple(str(c) for c in admin.allowed_cidrs))

    def naming(self, environment: str) -> Naming:
        labels = {**self.labels, "environment": environment, "managed-by": "pulumi", "cost-center": self.cost_center}
        return Naming(prefix=self.prefix, environment=environment, labels=labels)


# Keys read outside the model, as Pulumi secrets (never validated as plain data, never printed).
SECRET_KEYS: frozenset[str] = frozenset(
    (
        channels.SLACK_TOKEN_KEY,
        channels.PAGERDUTY_KEY,
        channels.WEBHOOK_URL_KEY,
        "cloudflare_api_token",
        "origin_token",
        "origin_token_accepted",  # optional: a second token the load balancer accepts while rotating
        OAUTH_SECRET_KEY,
    )
)


def is_secret_key(key: str) -> bool:
    """Whether a `platform:` key (without the namespace) holds a secret, read as a Pulumi secret and never parsed."""
    return key in SECRET_KEYS or key.startswith(VALUE_KEY_PREFIX)


def app_secret_value_keys(raw: Mapping[str, Any]) -> frozenset[str]:
    """The config keys holding the values of the app secrets the stack creates (from the decoded, unparsed config)."""
    secrets = raw.get("app_secrets")
    if not isinstance(secrets, dict):
        return frozenset()
    return frozenset(value_key(k) for k, v in secrets.items() if not (isinstance(v, dict) and v.get("existing")))


def require_secret(key: str, needed_by: str) -> pulumi.Output[str]:
    """A secret the stack's config asks for, or one line saying how to set it."""
    value = pulumi.Config(NAMESPACE).get_secret(key)
    if value is None:
        missing_secret(key, needed_by)
    return value


def app_secret_values(config: StackConfig) -> dict[str, pulumi.Output[str]]:
    """The value of each app secret the stack creates, set with `pulumi config set --secret`; a missing one, or one set
    in clear text (it would sit unencrypted in the stack file), stops the program with one line naming the command."""
    from pulumi.runtime.config import get_config, is_config_secret

    values = {}
    for key, secret in sorted(config.app_secrets.items()):
        if secret.existing is not None:
            continue
        full = f"{NAMESPACE}:{value_key(key)}"
        if get_config(full) is not None and not is_config_secret(full):
            raise pulumi.RunError(
                f"app_secrets.{key}: {full} is set in clear text in the stack file; set it again with "
                f"`pulumi config set --secret {full}` (and rotate the value: it was readable there)"
            )
        values[key] = require_secret(value_key(key), f"app_secrets.{key}")
    return values


def load() -> StackConfig:
    """Read and validate the `platform:*` stack config, or stop the program with one clear line."""
    stack_file = f"Pulumi.{pulumi.get_stack()}.yaml"
    check_namespaces(_config_keys(), stack_file=stack_file)
    config = pulumi.Config(NAMESPACE)
    values = {f"{NAMESPACE}:{key}": config.get(key) or "" for key in sorted(_present_keys()) if not is_secret_key(key)}
    return parse(decode(values), stack_file=stack_file)


def check_namespaces(keys: Iterable[str], *, stack_file: str) -> None:
    """Refuse a key in a namespace nobody reads (`platfrom:protection` would leave prod without `protect`)."""
    known = sorted({NAMESPACE, ENGINE_NAMESPACE, *PROVIDER_NAMESPACES})
    for key in sorted(keys):
        namespace, _, name = key.partition(":")
        if namespace in known:
            continue
        near = difflib.get_close_matches(namespace, known, n=1, cutoff=0.6)
        hint = f"did you mean {near[0]}:{name}?" if near else f"the program reads {NAMESPACE}:<key>"
        raise pulumi.RunError(
            f"invalid stack config in {stack_file}: {key} is in namespace '{namespace}', which nothing reads "
            f"(known: {', '.join(known)}); {hint}"
        )


def decode(values: Mapping[str, str]) -> dict[str, Any]:
    """Config as the engine hands it over (`platform:key` -> JSON or plain text) as plain data keyed by `key`."""
    raw: dict[str, Any] = {}
    for key, value in values.items():
        if key.startswith(f"{NAMESPACE}:"):
            try:  # structured values arrive as JSON; plain strings stay strings
                raw[key.split(":", 1)[1]] = json.loads(value)
            except ValueError:
                raw[key.split(":", 1)[1]] = value
    return raw


def parse(raw: dict[str, Any], *, stack_file: str) -> StackConfig:
    """Validate config values (keys without the `platform:` namespace); a mistake becomes a one-line RunError.

    Secret keys are skipped: they are read as Pulumi secrets where they are used, never as plain data.
    """
    try:
        config = StackConfig.model_validate({k: v for k, v in raw.items() if not is_secret_key(k)})
    except ValidationError as err:
        raise pulumi.RunError(describe(err, stack_file=stack_file)) from None
    _check_tag_urls(config, stack_file=stack_file)
    return config


# Cloud Run puts a traffic tag and the service name in one DNS label of the tag's URL (`TAG---NAME-...run.app`), and
# refuses the pair when it is longer than 46 characters. App deploys (examples/app-deploy.sh) add `candidate` and
# `previous`.
MAX_TAG_AND_NAME = 46
APP_DEPLOY_TAGS = ("candidate", "previous")


def _check_tag_urls(config: StackConfig, *, stack_file: str) -> None:
    """Each service's Cloud Run name with each traffic tag it will carry fits Cloud Run's 46 characters."""
    environment = stack_file.removeprefix("Pulumi.").removesuffix(".yaml")
    naming = config.naming(environment)
    for key, service in config.services.items():
        name = service_name(naming, key)
        tags = [t.tag for t in service.traffic if t.tag] + list(APP_DEPLOY_TAGS if service.deploy_mode == "app" else ())
        for tag in tags:
            if len(tag) + len(name) > MAX_TAG_AND_NAME:
                raise pulumi.RunError(
                    f"invalid stack config in {stack_file}: services.{key}: the traffic tag '{tag}' and the Cloud Run "
                    f"name {name} make {len(tag) + len(name)} characters, above Cloud Run's {MAX_TAG_AND_NAME} for a "
                    "tag URL; shorten the service key (or the tag)"
                )


def _config_keys() -> set[str]:
    """Every key of the stack's config as the engine hands it to the program, in every namespace."""
    from pulumi.runtime import config as runtime_config

    return set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())


def _present_keys() -> set[str]:
    return {k.split(":", 1)[1] for k in _config_keys() if k.startswith(f"{NAMESPACE}:")}


def describe(err: ValidationError, *, stack_file: str) -> str:
    """One line for the first problems pydantic found, each naming the key path and how to fix it."""
    problems = []
    for e in err.errors():
        loc = [str(p) for p in e["loc"]]
        if "key" in (e.get("ctx") or {}):
            loc.append(str(e["ctx"]["key"]))
        path = ".".join(loc) or "(top level)"
        kind = e["type"]
        if kind == "missing":
            problems.append(f"{path} is required; add it to {stack_file}")
        elif kind == "extra_forbidden":
            allowed = _allowed_keys(e["loc"][:-1])
            problems.append(f"{path} is not a known key; check its spelling (allowed here: {allowed})")
        else:
            message = e["msg"].removeprefix("Value error, ")
            if kind not in ("value_error", "invalid_value"):
                message = f"{message[0].lower()}{message[1:]} (got {e['input']!r})"
            problems.append(f"{path}: {message}")
    return f"invalid stack config in {stack_file}: " + "; ".join(problems)


def _allowed_keys(loc: tuple[int | str, ...]) -> str:
    """The keys the model accepts at `loc`, walking StackConfig's fields (and skipping dict keys)."""
    model: Any = StackConfig
    for part in loc:
        annotation = _model_or_mapping(model, part)
        if annotation is None:
            return "see the README"
        model = annotation
    return ", ".join(model.model_fields) if _is_model(model) else "see the README"


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _model_or_mapping(current: Any, part: int | str) -> Any:
    if _is_model(current):
        field = current.model_fields.get(str(part))
        return _unwrap(field.annotation) if field else None
    if typing.get_origin(current) is dict:  # a name-keyed map: the part is a key, step into the value type
        return _unwrap(typing.get_args(current)[1])
    return None


def _unwrap(tp: Any) -> Any:
    """Strip Optional/Annotated down to the model or dict type inside."""
    origin = typing.get_origin(tp)
    if origin is Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin in (Union, types.UnionType):
        for arg in typing.get_args(tp):
            if arg is not type(None):
                return _unwrap(arg)
    return tp
