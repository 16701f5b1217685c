"""The platform: one stack per environment, every difference between them in the stack files."""

import pulumi
import pulumi_gcp as gcp

import stack_config
from components.backup import Backup
from components.network import Network
from components.observability import ChannelSecrets, Observability
from components.project_services import ProjectServices

config = stack_config.load()
naming = config.naming(pulumi.get_stack())

provider = gcp.Provider("gcp", project=config.gcp.project, region=config.gcp.region)
on_gcp = pulumi.ResourceOptions(providers=[provider])

apis = ProjectServices(
    "apis",
    [
        "compute.googleapis.com",
        "servicenetworking.googleapis.com",
        "monitoring.googleapis.com",
        "logging.googleapis.com",
        "bigquery.googleapis.com",
        "billingbudgets.googleapis.com",
        "pubsub.googleapis.com",
        "storage.googleapis.com",
        "cloudscheduler.googleapis.com",
        "iam.googleapis.com",
        "backupdr.googleapis.com",
    ],
    opts=on_gcp,
)
network = Network("network", config.network, naming=naming, region=config.gcp.region, apis=apis, opts=on_gcp)

# Cloud Run services, the database and Redis join `services`, `database` and `redis` (Observability) and `database`
# and `redis` (Backup) once their components exist; see docs/observability.md.
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
    services={},
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
    opts=on_gcp,
)

pulumi.export("network_id", network.network_id)
pulumi.export("network_self_link", network.self_link)
pulumi.export("subnets", network.subnet_self_links)
pulumi.export("psa_range", network.psa_range.name)
pulumi.export("nat_ips", network.nat_ips)
pulumi.export("dashboard_id", observability.dashboard_id)
pulumi.export("notification_channel_ids", observability.notification_channel_ids)
pulumi.export("budget", observability.budget_status)
pulumi.export("backup_bucket", backup.bucket_name)
pulumi.export("recovery_objectives", backup.recovery_objectives)
