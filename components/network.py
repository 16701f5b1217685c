"""The VPC every other component lives in: custom-mode subnets, a default-deny firewall, Cloud NAT for private egress,
and private services access for Cloud SQL and Memorystore."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal

import pulumi
import pulumi_gcp as gcp
from pydantic import Field, StringConstraints, model_validator

from components.config_types import Cidr, Key, Model, Region, first_overlap, invalid
from components.context import StackContext
from components.refs import NetworkRef

HEALTH_CHECK_RANGES = ("35.191.0.0/16", "130.211.0.0/22")
IAP_TCP_FORWARDING_RANGE = "35.235.240.0/20"
# Direct VPC egress needs at least a /26; Cloud Run takes two addresses per instance, so size for 2x max instances.
SERVERLESS_MAX_PREFIX = 26

Tag = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,62}$")]
Port = Annotated[int, Field(ge=1, le=65535)]


class FlowLogsArgs(Model):
    aggregation_interval: Literal[
        "INTERVAL_5_SEC", "INTERVAL_30_SEC", "INTERVAL_1_MIN", "INTERVAL_5_MIN", "INTERVAL_10_MIN", "INTERVAL_15_MIN"
    ] = "INTERVAL_5_SEC"
    sampling: float = Field(0.5, gt=0, le=1)
    metadata: Literal["INCLUDE_ALL_METADATA", "EXCLUDE_ALL_METADATA"] = "INCLUDE_ALL_METADATA"


class SubnetArgs(Model):
    cidr: Cidr
    region: Region | None = None  # default: the stack's region (gcp.region); another region's serverless subnet
    secondary_ranges: dict[Key, Cidr] = {}
    flow_logs: FlowLogsArgs | None = None  # overrides network.flow_logs for this subnet


class TargetedRuleArgs(Model):
    """An ingress rule opened only where config asks, and only towards tagged instances or service accounts."""

    ports: list[Port] = Field(min_length=1)
    target_tags: list[Tag] = []
    target_service_accounts: list[str] = []

    @model_validator(mode="after")
    def _one_kind_of_target(self) -> TargetedRuleArgs:
        if bool(self.target_tags) == bool(self.target_service_accounts):
            invalid("target_tags", "set exactly one of target_tags or target_service_accounts (Google allows one kind)")
        return self


class FirewallArgs(Model):
    health_checks: TargetedRuleArgs | None = None
    iap_tcp_forwarding: TargetedRuleArgs | None = None


class NatArgs(Model):
    enabled: bool = True
    log_filter: Literal["ERRORS_ONLY", "TRANSLATIONS_ONLY", "ALL"] = "ERRORS_ONLY"
    min_ports_per_vm: int = Field(32, ge=32, le=65536)
    max_ports_per_vm: int = Field(4096, ge=64, le=65536)
    subnets: list[Key] | None = None  # None: every range of every subnet
    static_ips: list[Key] = []  # names of reserved egress IPs; empty: Google allocates them

    @model_validator(mode="after")
    def _port_range(self) -> NatArgs:
        for key in ("min_ports_per_vm", "max_ports_per_vm"):
            value = getattr(self, key)
            if value & (value - 1):
                invalid(key, f"{value} is not a power of two, which dynamic port allocation requires (e.g. 64, 1024)")
        if self.min_ports_per_vm > self.max_ports_per_vm:
            invalid(
                "min_ports_per_vm",
                f"min_ports_per_vm ({self.min_ports_per_vm}) is above max_ports_per_vm ({self.max_ports_per_vm})",
            )
        return self


class PrivateServicesArgs(Model):
    cidr: Cidr  # reserved for Google-managed services (Cloud SQL, Memorystore); a /16 leaves room to grow


class NetworkArgs(Model):
    routing_mode: Literal["REGIONAL", "GLOBAL"] = "REGIONAL"
    subnets: dict[Key, SubnetArgs] = Field(min_length=1)
    serverless_subnet: Key  # the subnet Cloud Run's Direct VPC egress uses
    flow_logs: FlowLogsArgs = FlowLogsArgs()
    private_services: PrivateServicesArgs
    nat: NatArgs = NatArgs()
    firewall: FirewallArgs = FirewallArgs()

    @model_validator(mode="after")
    def _consistent(self) -> NetworkArgs:
        ranges = [(f"subnets.{k}.cidr", s.cidr) for k, s in self.subnets.items()]
        ranges += [
            (f"subnets.{k}.secondary_ranges.{r}", cidr)
            for k, s in self.subnets.items()
            for r, cidr in s.secondary_ranges.items()
        ]
        ranges.append(("private_services.cidr", self.private_services.cidr))
        overlap = first_overlap(ranges)
        if overlap:
            (a, a_cidr), (b, b_cidr) = overlap
            invalid(b, f"{b_cidr} overlaps {a} ({a_cidr}); give every range its own address block")
        if self.serverless_subnet not in self.subnets:
            invalid("serverless_subnet", f"'{self.serverless_subnet}' is not one of subnets: {', '.join(self.subnets)}")
        prefix = ipaddress.ip_network(self.subnets[self.serverless_subnet].cidr).prefixlen
        if prefix > SERVERLESS_MAX_PREFIX:
            invalid(
                f"subnets.{self.serverless_subnet}.cidr",
                f"/{prefix} is too small for Direct VPC egress; use /{SERVERLESS_MAX_PREFIX} or larger",
            )
        unknown = [s for s in self.nat.subnets or [] if s not in self.subnets]
        if unknown:
            invalid("nat.subnets", f"unknown subnet(s) {', '.join(unknown)}; known: {', '.join(self.subnets)}")
        return self


class Network(pulumi.ComponentResource):
    """Custom-mode VPC with regional subnets keyed by name, default-deny ingress, Cloud NAT and private services
    access. Consumers take `ref`, whose `private_services_network` resolves only once the peering exists."""

    network_id: pulumi.Output[str]
    self_link: pulumi.Output[str]
    ref: NetworkRef

    def __init__(
        self, name: str, args: NetworkArgs, *, ctx: StackContext, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:components:Network", name, None, ctx.component(opts))
        self._ctx = ctx
        self._name = name
        self._naming = ctx.naming
        # In a protected stack the whole network is: replacing the VPC, a subnet or the peering would take every
        # service and the database with it.
        compute = ctx.stateful(self, "compute.googleapis.com")
        self._child = pulumi.ResourceOptions(parent=self, protect=ctx.protect)

        self.vpc = self._vpc(args, compute)
        self.subnet_regions = {key: subnet.region or ctx.region for key, subnet in args.subnets.items()}
        self.subnets = self._subnets(args)
        self.serverless_subnet = self.subnets[args.serverless_subnet]
        self.firewalls = self._firewalls(args)
        self.nat_addresses = self._nats(args, compute)
        self.psa_range, self.psa_connection = self._private_services(args)

        self.network_id = self.vpc.id
        self.self_link = self.vpc.self_link
        self.subnet_self_links = {key: s.self_link for key, s in self.subnets.items()}
        self.nat_ips = pulumi.Output.all(*(a.address for a in self.nat_addresses.values()))
        self.ref = self._ref()
        self.register_outputs(
            {
                "network_id": self.network_id,
                "self_link": self.self_link,
                "subnets": self.subnet_self_links,
                "psa_range": self.psa_range.name,
                "nat_ips": self.nat_ips,
            }
        )

    def _vpc(self, args: NetworkArgs, compute: pulumi.ResourceOptions) -> gcp.compute.Network:
        return gcp.compute.Network(
            f"{self._name}-vpc",
            name=self._naming.physical("vpc"),
            auto_create_subnetworks=False,
            routing_mode=args.routing_mode,
            description="Platform VPC: custom-mode subnets, default-deny ingress",
            opts=compute,
        )

    def _subnets(self, args: NetworkArgs) -> dict[str, gcp.compute.Subnetwork]:
        return {
            key: gcp.compute.Subnetwork(
                f"{self._name}-{key}",
                name=self._naming.physical(key),
                network=self.vpc.id,
                region=self.subnet_regions[key],
                ip_cidr_range=subnet.cidr,
                private_ip_google_access=True,
                log_config=_flow_logs(subnet.flow_logs or args.flow_logs),
                secondary_ip_ranges=[
                    gcp.compute.SubnetworkSecondaryIpRangeArgs(range_name=range_name, ip_cidr_range=cidr)
                    for range_name, cidr in subnet.secondary_ranges.items()
                ],
                opts=self._child,
            )
            for key, subnet in args.subnets.items()
        }

    def _ref(self) -> NetworkRef:
        return NetworkRef(
            network_id=self.vpc.id,
            serverless_subnet_id=self.serverless_subnet.id,
            private_services_network=pulumi.Output.all(self.vpc.id, self.psa_connection.id).apply(lambda v: v[0]),
            private_services_range=self.psa_range.name,
            subnet_ids={key: s.id for key, s in self.subnets.items()},
        )

    def _rule(self, key: str, **kwargs: Any) -> gcp.compute.Firewall:
        return gcp.compute.Firewall(
            f"{self._name}-{key}",
            name=self._naming.physical(key),
            network=self.vpc.id,
            direction="INGRESS",
            log_config=gcp.compute.FirewallLogConfigArgs(metadata="INCLUDE_ALL_METADATA"),
            opts=self._child,
            **kwargs,
        )

    def _firewalls(self, args: NetworkArgs) -> dict[str, gcp.compute.Firewall]:
        internal = [s.cidr for s in args.subnets.values()]
        internal += [c for s in args.subnets.values() for c in s.secondary_ranges.values()]
        rules = {
            "deny-all-ingress": self._rule(
                "deny-all-ingress",
                description="Default deny: anything not allowed by a higher-priority rule is dropped and logged",
                priority=65534,
                source_ranges=["0.0.0.0/0"],
                denies=[gcp.compute.FirewallDenyArgs(protocol="all")],
            ),
            "allow-internal": self._rule(
                "allow-internal",
                description="Traffic between the platform's own subnets",
                priority=1000,
                source_ranges=internal,
                allows=[gcp.compute.FirewallAllowArgs(protocol=p) for p in ("tcp", "udp", "icmp")],
            ),
        }
        optional = {
            "allow-health-checks": (args.firewall.health_checks, list(HEALTH_CHECK_RANGES), "Google health checks"),
            "allow-iap-tcp": (args.firewall.iap_tcp_forwarding, [IAP_TCP_FORWARDING_RANGE], "IAP TCP forwarding"),
        }
        for key, (rule, sources, what) in optional.items():
            if rule is not None:
                rules[key] = self._rule(
                    key,
                    description=f"{what}, to the targeted instances only",
                    priority=1000,
                    source_ranges=sources,
                    allows=[gcp.compute.FirewallAllowArgs(protocol="tcp", ports=[str(p) for p in rule.ports])],
                    target_tags=rule.target_tags or None,
                    target_service_accounts=rule.target_service_accounts or None,
                )
        return rules

    def _nats(self, args: NetworkArgs, compute: pulumi.ResourceOptions) -> dict[str, gcp.compute.Address]:
        """Cloud NAT is regional: a router and a gateway in each region that has subnets, the stack's own first (its
        names unchanged), the others named after their region."""
        region = self._ctx.region
        regions = [region, *sorted({r for r in self.subnet_regions.values() if r != region})]
        addresses: dict[str, gcp.compute.Address] = {}
        for nat_region in regions:
            addresses |= self._nat(args, nat_region, compute, suffix="" if nat_region == region else nat_region)
        return addresses

    def _nat(
        self, args: NetworkArgs, region: str, compute: pulumi.ResourceOptions, *, suffix: str
    ) -> dict[str, gcp.compute.Address]:
        """The region's router and NAT gateway, and its static egress addresses (keyed `name` in the stack's region,
        `name-region` in another). `suffix` is empty in the stack's region, else the region."""
        nat = args.nat
        # Only the subnets of this region: a router serves its own region's subnets.
        subnets = [key for key in nat.subnets or [] if self.subnet_regions[key] == region]
        if not nat.enabled or (nat.subnets is not None and not subnets):
            return {}
        child = self._child
        tail = [suffix] if suffix else []
        # Partners allow-list these addresses: losing one is an outage for them.
        addresses = {
            "-".join((key, *tail)): gcp.compute.Address(
                "-".join((f"{self._name}-nat-{key}", *tail)),
                name=self._naming.physical("nat", key, *tail),
                region=region,
                address_type="EXTERNAL",
                labels=self._naming.labels_for("network"),
                opts=compute,
            )
            for key in nat.static_ips
        }
        router = gcp.compute.Router(
            "-".join((f"{self._name}-router", *tail)),
            name=self._naming.physical("router", *tail),
            network=self.vpc.id,
            region=region,
            opts=child,
        )
        gcp.compute.RouterNat(
            "-".join((f"{self._name}-nat", *tail)),
            name=self._naming.physical("nat", *tail),
            router=router.name,
            region=region,
            nat_ip_allocate_option="MANUAL_ONLY" if addresses else "AUTO_ONLY",
            nat_ips=[a.self_link for a in addresses.values()] or None,
            source_subnetwork_ip_ranges_to_nat="LIST_OF_SUBNETWORKS" if subnets else "ALL_SUBNETWORKS_ALL_IP_RANGES",
            subnetworks=[
                gcp.compute.RouterNatSubnetworkArgs(
                    name=self.subnets[key].id, source_ip_ranges_to_nats=["ALL_IP_RANGES"]
                )
                for key in subnets
            ]
            or None,
            enable_dynamic_port_allocation=True,
            enable_endpoint_independent_mapping=False,  # must be off with dynamic port allocation
            min_ports_per_vm=nat.min_ports_per_vm,
            max_ports_per_vm=nat.max_ports_per_vm,
            log_config=gcp.compute.RouterNatLogConfigArgs(enable=True, filter=nat.log_filter),
            opts=child,
        )
        return addresses

    def _private_services(
        self, args: NetworkArgs
    ) -> tuple[gcp.compute.GlobalAddress, gcp.servicenetworking.Connection]:
        network = ipaddress.ip_network(args.private_services.cidr)
        psa_range = gcp.compute.GlobalAddress(
            f"{self._name}-psa-range",
            name=self._naming.physical("psa"),
            purpose="VPC_PEERING",
            address_type="INTERNAL",
            address=str(network.network_address),
            prefix_length=network.prefixlen,
            network=self.vpc.id,
            labels=self._naming.labels_for("network"),
            opts=self._child,
        )
        connection = gcp.servicenetworking.Connection(
            f"{self._name}-psa",
            network=self.vpc.id,
            service="servicenetworking.googleapis.com",
            reserved_peering_ranges=[psa_range.name],
            # Destroy would otherwise fail while Cloud SQL or Memorystore still hold addresses in the range.
            deletion_policy="ABANDON",
            opts=self._ctx.stateful(self, "servicenetworking.googleapis.com"),
        )
        return psa_range, connection


def _flow_logs(flow_logs: FlowLogsArgs) -> gcp.compute.SubnetworkLogConfigArgs:
    return gcp.compute.SubnetworkLogConfigArgs(
        aggregation_interval=flow_logs.aggregation_interval,
        flow_sampling=flow_logs.sampling,
        metadata=flow_logs.metadata,
    )
