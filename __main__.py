"""The platform: one stack per environment, every difference between them in the stack files."""

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_gcp as gcp

import stack_config
from components.edge_worker import EdgeWorker
from components.network import Network
from components.project_services import ProjectServices

config = stack_config.load()
naming = config.naming(pulumi.get_stack())

provider = gcp.Provider("gcp", project=config.gcp.project, region=config.gcp.region)
on_gcp = pulumi.ResourceOptions(providers=[provider])

apis = ProjectServices(
    "apis",
    ["compute.googleapis.com", "servicenetworking.googleapis.com"],
    opts=on_gcp,
)
network = Network("network", config.network, naming=naming, region=config.gcp.region, apis=apis, opts=on_gcp)

pulumi.export("network_id", network.network_id)
pulumi.export("network_self_link", network.self_link)
pulumi.export("subnets", network.subnet_self_links)
pulumi.export("psa_range", network.psa_range.name)
pulumi.export("nat_ips", network.nat_ips)

if config.edge:
    secrets = pulumi.Config(stack_config.NAMESPACE)
    cloudflare_provider = cloudflare.Provider("cloudflare", api_token=secrets.require_secret("cloudflare_api_token"))
    edge = EdgeWorker(
        "edge",
        config.edge,
        naming=naming,
        origin_token=secrets.require_secret("origin_token"),
        origin_ip=None,  # the load balancer's global IP once it exists; until then `dns` hostnames get no record
        opts=pulumi.ResourceOptions(providers=[cloudflare_provider]),
    )
    pulumi.export("edge_hostnames", edge.hostnames)
    pulumi.export("edge_worker_name", edge.worker_name)
