"""The platform: one stack per environment, every difference between them in the stack files."""

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_gcp as gcp

import stack_config
from components.app_secrets import AppSecrets
from components.argocd import ArgoCd
from components.audit_logs import AuditLogs
from components.backup import Backup, DatabaseExportTarget, RedisExportTarget
from components.binauthz import BinaryAuthorization
from components.buckets import ACCESS, Access, AppBucket
from components.budget import Budget
from components.cloud_armor import SecurityPolicy, accepted_tokens
from components.cloud_run import CloudRunService, service_name
from components.context import StackContext
from components.database import Database
from components.database_schedule import DatabaseSchedule
from components.edge import EdgeWorker
from components.encryption import CustomerManagedKeys
from components.events import EventBus
from components.gke import GkeCluster
from components.internal_tools import OAUTH_SECRET_KEY, InternalTools
from components.load_balancer import LoadBalancer, ServerlessBackend
from components.network import Network
from components.observability import ChannelSecrets, Observability
from components.project_services import ProjectServices
from components.redis import Redis
from components.refs import NO_CMEK, BucketBinding, DatabaseBinding, RedisBinding, RepositoryRef, ServiceEndpoint
from components.registry import Registry
from components.warehouse import Warehouse
from components.workload_identity import WorkloadIdentity

config = stack_config.load()
secrets = pulumi.Config(stack_config.NAMESPACE)
# Quota and billing of every call go to the stack's project (where the program enables the APIs it calls), not to the
# deployer's own project: budgets are billing-account resources, and their API refuses a caller without a quota project.
provider = gcp.Provider(
    "gcp",
    project=config.gcp.project,
    region=config.gcp.region,
    billing_project=config.gcp.project,
    user_project_override=True,
)
apis = ProjectServices("apis", opts=pulumi.ResourceOptions(providers=[provider]))
ctx = StackContext(
    naming=config.naming(pulumi.get_stack()),
    project=config.gcp.project,
    region=config.gcp.region,
    apis=apis,
    deletion_protection=config.protection.deletion_protection,
    protect=config.protection.protect,
    provider=provider,
    deployer=config.deployer,
)

# Customer-managed keys (CMEK) for every data service, where the stack asks for them
keys = (
    CustomerManagedKeys("encryption", config.encryption, ctx=ctx, needs=config.encryption_needs())
    if config.encryption.cmek
    else None
)
encryption = keys.encryption if keys else NO_CMEK

# Network and data
network = Network("network", config.network, ctx=ctx)
database = Database(
    "database", config.database, ctx=ctx, network=network.ref, secrets=config.secrets, encryption=encryption
)
redis = Redis("redis", config.redis, ctx=ctx, network=network.ref, secrets=config.secrets, encryption=encryption)
if config.schedule.database_office_hours:
    DatabaseSchedule(
        "database-schedule", config.schedule.database_office_hours, ctx=ctx, instance_name=database.instance_name
    )
backup = Backup(
    "backup",
    config.backup,
    ctx=ctx,
    database=DatabaseExportTarget(
        instance=database.instance.name,
        databases=database.database_names,
        service_account_email=database.instance.service_account_email_address,
        point_in_time_recovery=config.database.backups.point_in_time_recovery,
        cross_region_replica=config.cross_region_replica(),
    ),
    redis=RedisExportTarget(
        instance=redis.instance.name, region=ctx.region, persistence_identity=redis.instance.persistence_iam_identity
    ),
    encryption=encryption,
)
buckets = {key: AppBucket(key, bucket, ctx=ctx, encryption=encryption) for key, bucket in config.buckets.items()}
app_secrets = AppSecrets(
    "app-secrets",
    config.app_secrets,
    ctx=ctx,
    values=stack_config.app_secret_values(config),
    replication=config.secrets,
    encryption=encryption,
)
for unused in config.unused_app_secrets():
    pulumi.log.warn(f"app_secrets.{unused} is named by no service (services.<name>.secrets); remove it or use it")


# What a workload (a Cloud Run service or a GKE workload) names of the data tier, as the references it is given.
def database_binding(name: str | None) -> DatabaseBinding | None:
    if name is None:
        return None
    return DatabaseBinding(
        connection_name=database.connection_name,
        database=name,
        user=database.users[name],
        password_secret_id=database.password_secret_ids[name],
    )


def redis_binding(uses: bool) -> RedisBinding | None:
    return RedisBinding(host=redis.host, port=redis.port, auth_secret_id=redis.auth_secret.id) if uses else None


def bucket_bindings(access: dict[str, Access]) -> dict[str, BucketBinding]:
    return {key: BucketBinding(buckets[key].name, ACCESS[role]) for key, role in access.items()}


# Services: callers first, since a service's invoker bindings name its callers' service accounts. Each runs in the
# stack's region and in every other serving region, on that region's serverless subnet; a caller reaches the copy of
# each service it calls in its own region, at its deterministic URL (known before the callee exists).
registry = Registry("registry", config.registry, ctx=ctx, encryption=encryption)
other_regions = {
    region: network.ref.subnet_ids[serving.serverless_subnet] for region, serving in config.serving.regions.items()
}
project_number = (
    gcp.organizations.get_project_output(
        project_id=config.gcp.project, opts=pulumi.InvokeOutputOptions(provider=provider)
    ).number
    if any(config.upstreams(key) for key in config.services)
    else None
)
services: dict[str, CloudRunService] = {}
for key in config.service_order():
    service = config.services[key]
    services[key] = CloudRunService(
        key,
        service,
        ctx=ctx,
        network=network.ref,
        regions=other_regions,
        unprotected_regions=config.serving.retiring(),
        upstreams={callee: service_name(ctx.naming, callee) for callee in config.upstreams(key)},
        project_number=project_number,
        image_repository=registry.url,
        invokers={caller: services[caller].service_account_email for caller in service.invokers},
        database=database_binding(service.database),
        redis=redis_binding(service.redis),
        secrets={env: app_secrets.bindings[secret] for env, secret in service.secrets.items()},
        buckets=bucket_bindings(service.buckets),
    )

# The warehouse events land in
warehouse = (
    Warehouse(
        "warehouse",
        config.warehouse,
        ctx=ctx,
        service_accounts={key: s.service_account_email for key, s in services.items()},
        encryption=encryption,
    )
    if config.warehouse
    else None
)
# Kubernetes: the cluster, its workloads' identities, Argo CD and the internal tools behind IAP
cluster: GkeCluster | None = None
workloads: dict[str, WorkloadIdentity] = {}
if config.binary_authorization:
    binauthz = BinaryAuthorization("binauthz", config.binary_authorization, ctx=ctx)
    pulumi.export("binauthz_attestor", binauthz.attestor)
    pulumi.export("binauthz_key_version", binauthz.key_version)
if config.gke:
    gke = config.gke
    repository = registry.repository
    cluster = GkeCluster(
        "gke",
        gke,
        ctx=ctx,
        network=network.ref,
        repository=RepositoryRef(repository.project, repository.location, repository.repository_id)
        if repository
        else None,
    )
    workloads = {
        key: WorkloadIdentity(
            key,
            workload,
            ctx=ctx,
            workload_pool=cluster.workload_pool,
            database=database_binding(workload.database),
            redis=redis_binding(workload.redis),
            buckets=bucket_bindings(workload.buckets),
            opts=pulumi.ResourceOptions(parent=cluster),
        )
        for key, workload in gke.workloads.items()
    }
    # Inside the cluster, through its API; Argo CD needs nodes to run on.
    in_cluster = pulumi.ResourceOptions(parent=cluster, providers=[cluster.provider])
    nodes = list(cluster.node_pools.values())
    argocd = ArgoCd("argocd", gke.argocd, ctx=ctx, nodes=nodes, opts=in_cluster) if gke.argocd else None
    if gke.internal_tools:
        tools = {**({"argocd": gke.argocd.tool()} if gke.argocd else {}), **gke.internal_tools.tools}
        internal_tools = InternalTools(
            "internal-tools",
            gke.internal_tools,
            tools,
            ctx=ctx,
            oauth_client_secret=stack_config.require_secret(OAUTH_SECRET_KEY, "gke.internal_tools"),
            opts=pulumi.ResourceOptions.merge(
                in_cluster, pulumi.ResourceOptions(depends_on=[argocd] if argocd else [])
            ),
        )
        pulumi.export("internal_tools_ip", internal_tools.ip_address)
        pulumi.export("internal_tools_hosts", {key: tool.host for key, tool in sorted(tools.items())})
    pulumi.export("gke_cluster_name", cluster.name)
    pulumi.export("gke_endpoint", cluster.dns_endpoint)
    pulumi.export("gke_ca_certificate", cluster.ca_certificate)
    pulumi.export("gke_workload_pool", cluster.workload_pool)
    pulumi.export("workload_service_accounts", {key: w.email for key, w in sorted(workloads.items())})

# Events: topics and subscriptions between the services and workloads, and into the warehouse
events = (
    EventBus(
        "events",
        config.events,
        ctx=ctx,
        services={
            key: ServiceEndpoint(name=s.service.name, url=s.url, service_account_email=s.service_account_email)
            for key, s in services.items()
        },
        workloads={key: w.email for key, w in workloads.items()},
        tables=warehouse.tables if warehouse else {},
        encryption=encryption,
    )
    if config.events
    else None
)

# Monitoring, and what the project as a whole is held to
alerts = config.observability.alerts
observability = Observability(
    "observability",
    config.observability,
    ctx=ctx,
    secrets=ChannelSecrets.from_config(secrets),
    watched=[
        *(services[key].watch(alerts.cloud_run, domain=config.public_domain(key)) for key in sorted(services)),
        database.watch(alerts.cloud_sql),
        redis.watch(alerts.redis),
        backup.watch(),
        *([events.watch()] if events else []),
        *([cluster.watch(alerts.gke)] if cluster else []),
        app_secrets.watch(),
    ],
)
budget = Budget(
    "budget",
    config.budget,
    ctx=ctx,
    notification_channels=observability.channel_ids,
    aliases_parent=observability,
    encryption=encryption,
)
AuditLogs("audit-logs", config.audit_logs, ctx=ctx, aliases_parent=observability)

# Traffic: the load balancer behind Cloud Armor, and the Cloudflare edge in front of everything
load_balancer: LoadBalancer | None = None
# The edge's secrets, read before anything uses them: a missing one stops the program with the command that sets it.
cloudflare_token = stack_config.require_secret("cloudflare_api_token", "edge") if config.edge else None
origin_token = stack_config.require_secret("origin_token", "edge") if config.edge else None
if config.load_balancer.enabled:
    # Behind Cloudflare the backend policy admits requests with the origin token (and, while rotating, a second one).
    armor = SecurityPolicy(
        "armor",
        config.load_balancer.security,
        ctx=ctx,
        origin_tokens=accepted_tokens(secrets.require("origin_token"), secrets.get("origin_token_accepted"))
        if config.load_balancer.security.cloudflare_only
        else (),
        admin=config.admin_allow_list(),
    )
    load_balancer = LoadBalancer(
        "lb",
        config.load_balancer,
        ctx=ctx,
        # The physical name, not the service's output: a serverless NEG may name a service before it exists, so
        # the load balancer chain is built while images build and services deploy.
        backends={
            key: ServerlessBackend(
                cloud_run_service_name=services[key].physical_name, regions=config.load_balanced_regions()
            )
            for key in config.load_balancer.services
        },
        security_policy=armor.self_link,
        edge_security_policy=armor.edge_self_link,
        cdn_bucket=buckets[cdn_bucket].name if (cdn_bucket := config.cdn_bucket()) else None,
        encryption=encryption,
    )
    if origin_token is not None:
        # The Worker takes a new token only once the backend policy accepts it.
        origin_token = pulumi.Output.all(origin_token, armor.self_link).apply(lambda values: str(values[0]))
    pulumi.export("load_balancer_ip", load_balancer.ip_address)
    pulumi.export("load_balancer_domains", load_balancer.domains)
    pulumi.export("security_policy", armor.policy_name)

if config.edge and cloudflare_token is not None and origin_token is not None:
    edge = EdgeWorker(
        "edge",
        config.edge,
        naming=ctx.naming,
        origin_token=origin_token,
        origin_ip=load_balancer.ip_address if load_balancer else None,
        service_urls={name: services[name].url for name in config.edge.worker.service_origins().values()},
        dns_authorizations=load_balancer.dns_authorizations if load_balancer else None,
        opts=pulumi.ResourceOptions(providers=[cloudflare.Provider("cloudflare", api_token=cloudflare_token)]),
    )
    pulumi.export("edge_hostnames", edge.hostnames)
    pulumi.export("edge_worker_name", edge.worker_name)

if warehouse:
    pulumi.export("warehouse_datasets", warehouse.dataset_ids)
    pulumi.export("warehouse_tables", warehouse.table_ids)
if events:
    pulumi.export("event_topics", events.topic_ids)
    pulumi.export("event_subscriptions", events.subscription_ids)
    pulumi.export("event_dead_letter_subscriptions", events.dead_letter_subscription_ids)
    pulumi.export("event_push_service_accounts", events.push_service_accounts)
    pulumi.export("pubsub_service_agent", events.service_agent)

migration_jobs = [s.migration_job_name for s in services.values() if s.migration_job_name is not None]
pulumi.export("network_id", network.network_id)
pulumi.export("network_self_link", network.self_link)
pulumi.export("subnets", network.subnet_self_links)
pulumi.export("psa_range", network.psa_range.name)
pulumi.export("nat_ips", network.nat_ips)
pulumi.export("database_connection_name", database.connection_name)
pulumi.export("database_private_ip", database.private_ip)
pulumi.export("database_names", database.database_names)
pulumi.export("database_users", database.users)
pulumi.export("database_password_secret_ids", database.password_secret_ids)
pulumi.export("database_replica_connection_names", database.replica_connection_names)
pulumi.export("redis_host", redis.host)
pulumi.export("redis_port", redis.port)
pulumi.export("redis_read_endpoint", redis.read_endpoint)
pulumi.export("redis_auth_secret_id", redis.auth_secret.id)
pulumi.export("redis_ca_certificate", redis.ca_certificate)
pulumi.export("dashboard_id", observability.dashboard_id)
pulumi.export("notification_channel_ids", observability.notification_channel_ids)
pulumi.export("budget", budget.status)
pulumi.export("backup_bucket", backup.bucket_name)
# What the backups promise, and what losing the stack's region costs with the regions the services run in.
pulumi.export("recovery_objectives", config.recovery_objectives())
pulumi.export("image_repository", registry.url)
pulumi.export("app_secret_ids", app_secrets.secret_ids)
pulumi.export(
    "service_secret_ids",
    {
        key: {
            env: app_secrets.bindings[secret].secret_id for env, secret in sorted(config.services[key].secrets.items())
        }
        for key in sorted(services)
    },
)
pulumi.export("secret_rotation_topic", app_secrets.rotation_topic_id)
pulumi.export("buckets", {key: bucket.name for key, bucket in sorted(buckets.items())})
pulumi.export("encryption_keys", keys.key_ids if keys else {})
pulumi.export("serving_regions", config.serving_regions())
pulumi.export("service_urls", {key: s.url for key, s in sorted(services.items())})
pulumi.export("service_regional_urls", {key: s.urls for key, s in sorted(services.items())})
pulumi.export("service_names", {key: s.physical_name for key, s in sorted(services.items())})
pulumi.export("service_accounts", {key: s.service_account_email for key, s in sorted(services.items())})
pulumi.export("service_images", {key: s.image for key, s in sorted(services.items())})
pulumi.export("migration_job_name", migration_jobs[0] if migration_jobs else None)
pulumi.export(
    "migration_jobs",
    {key: s.migration_job_name for key, s in sorted(services.items()) if s.migration_job_name is not None},
)
