"""The platform: one stack per environment, every difference between them in the stack files."""

import pulumi
import pulumi_gcp as gcp

import stack_config
from components.cloud_run import CloudRunService, creation_order
from components.network import Network
from components.project_services import ProjectServices
from components.registry import Registry

config = stack_config.load()
naming = config.naming(pulumi.get_stack())

provider = gcp.Provider("gcp", project=config.gcp.project, region=config.gcp.region)
on_gcp = pulumi.ResourceOptions(providers=[provider])

apis = ProjectServices(
    "apis",
    [
        "compute.googleapis.com",
        "servicenetworking.googleapis.com",
        "run.googleapis.com",
        "artifactregistry.googleapis.com",
        "containerscanning.googleapis.com",
        "iam.googleapis.com",
    ],
    opts=on_gcp,
)
network = Network("network", config.network, naming=naming, region=config.gcp.region, apis=apis, opts=on_gcp)
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

# Callers first: a service's invoker bindings name its callers' service accounts.
# Data bindings (database=DatabaseBinding(...), redis=RedisBinding(...)) come from the data tier's components, for the
# services whose config sets `database` or `redis`.
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
        opts=on_gcp,
    )
migration_jobs = [s.migration_job_name for s in services.values() if s.migration_job_name is not None]

pulumi.export("network_id", network.network_id)
pulumi.export("network_self_link", network.self_link)
pulumi.export("subnets", network.subnet_self_links)
pulumi.export("psa_range", network.psa_range.name)
pulumi.export("nat_ips", network.nat_ips)
pulumi.export("image_repository", registry.url)
pulumi.export("service_urls", {key: s.url for key, s in sorted(services.items())})
pulumi.export("service_accounts", {key: s.service_account_email for key, s in sorted(services.items())})
pulumi.export("service_images", {key: s.image for key, s in sorted(services.items())})
pulumi.export("migration_job_name", migration_jobs[0] if migration_jobs else None)
