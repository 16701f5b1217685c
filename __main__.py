"""The platform: one stack per environment, every difference between them in the stack files."""

import pulumi
import pulumi_gcp as gcp

import stack_config
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
