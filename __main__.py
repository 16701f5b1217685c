"""The platform: one stack per environment, every difference between them in the stack files."""

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_gcp as gcp

import stack_config
from components.backup import Backup, DatabaseExportTarget, RedisExportTarget
from components.cloud_armor import SecurityPolicy
from components.cloud_run import CloudRunService, DatabaseBinding, RedisBinding, creation_order
from components.database import Database
from components.database_schedule import DatabaseSchedule
from components.edge_worker import EdgeWorker
from components.load_balancer import LoadBalancer, ServerlessBackend
from components.network import Network
from components.observability import ChannelSecrets, MonitoredDatabase, MonitoredRedis, Observability, monitored
from components.project_services import ProjectServices
from components.redis import Redis
from components.registry import Registry

config = stack_config.load()
naming = config.naming(pulumi.get_stack())

provider = gcp.Provider("gcp", project=config.gcp.project, region=config.gcp.region)
on_gcp = pulumi.ResourceOptions(providers=[provider])

apis = ProjectServices(
    "apis",
    [
        "artifactregistry.googleapis.com",
        "backupdr.googleapis.com",
        "bigquery.googleapis.com",
        "billingbudgets.googleapis.com",
        "certificatemanager.googleapis.com",
        "cloudscheduler.googleapis.com",
        "compute.googleapis.com",
        "containerscanning.googleapis.com",
        "iam.googleapis.com",
        "logging.googleapis.com",
        "monitoring.googleapis.com",
        "pubsub.googleapis.com",
        "redis.googleapis.com",
        "run.googleapis.com",
        "secretmanager.googleapis.com",
        "servicenetworking.googleapis.com",
        "sqladmin.googleapis.com",
        "storage.googleapis.com",
    ],
    opts=on_gcp,
)
network = Network(
    "network",
    config.network,
    naming=naming,
    region=config.gcp.region,
    apis=apis,
    protect=config.protection.protect,
    opts=on_gcp,
)
database = Database(
    "database",
    config.database,
    naming=naming,
    region=config.gcp.region,
    network=network,
    apis=apis,
    secrets=config.secrets,
    deletion_protection=config.protection.deletion_protection,
    protect=config.protection.protect,
    opts=on_gcp,
)
redis = Redis(
    "redis",
    config.redis,
    naming=naming,
    region=config.gcp.region,
    network=network,
    apis=apis,
    secrets=config.secrets,
    deletion_protection=config.protection.deletion_protection,
    protect=config.protection.protect,
    opts=on_gcp,
)
if config.schedule.database_office_hours:
    DatabaseSchedule(
        "database-schedule",
        config.schedule.database_office_hours,
        naming=naming,
        project=config.gcp.project,
        region=config.gcp.region,
        instance_name=database.instance.name,
        apis=apis,
        opts=on_gcp,
    )

backup = Backup(
    "backup",
    config.backup,
    naming=naming,
    project=config.gcp.project,
    region=config.gcp.region,
    deletion_protection=config.protection.deletion_protection,
    protect=config.protection.protect,
    apis=apis,
    database=DatabaseExportTarget(
        instance=database.instance.name,
        databases=database.database_names,
        service_account_email=database.instance.service_account_email_address,
        point_in_time_recovery=config.database.backups.point_in_time_recovery,
        cross_region_replica=any(r.region != config.gcp.region for r in config.database.replicas.values()),
    ),
    redis=RedisExportTarget(
        instance=redis.instance.name,
        region=config.gcp.region,
        persistence_identity=redis.instance.persistence_iam_identity,
    ),
    opts=on_gcp,
)

registry = Registry(
    "registry",
    config.registry,
    naming=naming,
    region=config.gcp.region,
    apis=apis,
    deletion_protection=config.protection.deletion_protection,
    protect=config.protection.protect,
    opts=on_gcp,
)


def database_binding(name: str | None) -> DatabaseBinding | None:
    if name is None:
        return None
    return DatabaseBinding(
        connection_name=database.connection_name,
        database=name,
        user=database.users[name],
        password_secret_id=database.password_secret_ids[name],
    )


redis_binding = RedisBinding(host=redis.host, port=redis.port, auth_secret_id=redis.auth_secret.id)
# Callers first: a service's invoker bindings name its callers' service accounts.
services: dict[str, CloudRunService] = {}
for key in creation_order(config.services):
    service = config.services[key]
    services[key] = CloudRunService(
        key,
        service,
        naming=naming,
        project=config.gcp.project,
        region=config.gcp.region,
        apis=apis,
        network=network,
        registry=registry,
        deletion_protection=config.protection.deletion_protection,
        invokers={caller: services[caller].service_account_email for caller in service.invokers},
        database=database_binding(service.database),
        redis=redis_binding if service.redis else None,
        opts=on_gcp,
    )
migration_jobs = [s.migration_job_name for s in services.values() if s.migration_job_name is not None]

observability = Observability(
    "observability",
    config.observability,
    naming=naming,
    project=config.gcp.project,
    region=config.gcp.region,
    apis=apis,
    secrets=ChannelSecrets.from_config(pulumi.Config(stack_config.NAMESPACE)),
    deletion_protection=config.protection.deletion_protection,
    protect=config.protection.protect,
    services=monitored(
        config.services,
        config.load_balancer,
        names={key: s.physical_name for key, s in services.items()},
        urls={key: s.url for key, s in services.items()},
    ),
    database=MonitoredDatabase(
        instance=database.instance_name,
        max_connections=config.database.max_connections,
        replicas=database.replica_names,
    ),
    redis=MonitoredRedis(instance_id=redis.instance.id),
    opts=on_gcp,
)

load_balancer: LoadBalancer | None = None
if config.load_balancer.enabled:
    armor = SecurityPolicy("armor", config.load_balancer.security, naming=naming, apis=apis, opts=on_gcp)
    load_balancer = LoadBalancer(
        "lb",
        config.load_balancer,
        backends={
            # The physical name, not the service's output: a serverless NEG may name a service before it exists, so
            # the load balancer chain is built while images build and services deploy.
            service: ServerlessBackend(cloud_run_service_name=services[service].physical_name, region=config.gcp.region)
            for service in config.load_balancer.services
        },
        security_policy=armor.self_link,
        naming=naming,
        apis=apis,
        deletion_protection=config.protection.deletion_protection,
        protect=config.protection.protect,
        opts=on_gcp,
    )
    pulumi.export("load_balancer_ip", load_balancer.ip_address)
    pulumi.export("load_balancer_domains", load_balancer.domains)
    pulumi.export("security_policy", armor.policy_name)

if config.edge:
    secrets = pulumi.Config(stack_config.NAMESPACE)
    cloudflare_provider = cloudflare.Provider("cloudflare", api_token=secrets.require_secret("cloudflare_api_token"))
    edge = EdgeWorker(
        "edge",
        config.edge,
        naming=naming,
        origin_token=secrets.require_secret("origin_token"),
        # `dns` hostnames point at the load balancer (the config allows them only with one); the Worker may also
        # fetch Cloud Run services directly at their run.app URLs (the only origins without a load balancer).
        origin_ip=load_balancer.ip_address if load_balancer else None,
        service_urls={name: services[name].url for name in config.edge.worker.service_origins().values()},
        # The certificates' DNS authorizations, published in the zone (empty with classic certificates).
        dns_authorizations=load_balancer.dns_authorizations if load_balancer else None,
        opts=pulumi.ResourceOptions(providers=[cloudflare_provider]),
    )
    pulumi.export("edge_hostnames", edge.hostnames)
    pulumi.export("edge_worker_name", edge.worker_name)

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
pulumi.export("budget", observability.budget_status)
pulumi.export("backup_bucket", backup.bucket_name)
pulumi.export("recovery_objectives", backup.recovery_objectives)
pulumi.export("image_repository", registry.url)
pulumi.export("service_urls", {key: s.url for key, s in sorted(services.items())})
pulumi.export("service_names", {key: s.physical_name for key, s in sorted(services.items())})
pulumi.export("service_accounts", {key: s.service_account_email for key, s in sorted(services.items())})
pulumi.export("service_images", {key: s.image for key, s in sorted(services.items())})
pulumi.export("migration_job_name", migration_jobs[0] if migration_jobs else None)
pulumi.export(
    "migration_jobs",
    {key: s.migration_job_name for key, s in sorted(services.items()) if s.migration_job_name is not None},
)
