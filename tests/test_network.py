"""The Network component on every stack: what a reviewer checks in the preview of the VPC."""

from __future__ import annotations

import ipaddress
from typing import Any

import pulumi_gcp as gcp

import stack_config
from components.network import HEALTH_CHECK_RANGES, IAP_TCP_FORWARDING_RANGE, Network
from offline.engine import Recording, run
from tests.conftest import config_of, context_of

FIREWALL = "gcp:compute/firewall:Firewall"
SUBNET = "gcp:compute/subnetwork:Subnetwork"
NAT = "gcp:compute/routerNat:RouterNat"


def _firewall(program: Recording, key: str) -> dict[str, Any] | None:
    found = [r for r in program.of(FIREWALL) if r.name == f"network-{key}"]
    return found[0].inputs if found else None


def test_vpc_is_custom_mode_with_configured_routing(program: Recording, config: stack_config.StackConfig) -> None:
    vpc = program.one("gcp:compute/network:Network")
    assert vpc.inputs["autoCreateSubnetworks"] is False
    assert vpc.inputs["routingMode"] == config.network.routing_mode


def test_subnets_are_keyed_by_name_with_private_google_access(
    program: Recording, config: stack_config.StackConfig
) -> None:
    subnets = {r.name: r.inputs for r in program.of(SUBNET)}
    assert set(subnets) == {f"network-{key}" for key in config.network.subnets}
    for key, subnet in config.network.subnets.items():
        inputs = subnets[f"network-{key}"]
        assert inputs["ipCidrRange"] == subnet.cidr
        assert inputs["region"] == (subnet.region or config.gcp.region)  # another region's serverless subnet
        assert inputs["privateIpGoogleAccess"] is True
        assert {r["rangeName"]: r["ipCidrRange"] for r in inputs.get("secondaryIpRanges", [])} == dict(
            subnet.secondary_ranges
        )


def test_flow_logs_are_on_with_configured_interval_and_sampling(
    program: Recording, config: stack_config.StackConfig
) -> None:
    for subnet in program.of(SUBNET):
        logs = subnet.inputs["logConfig"]
        assert logs["aggregationInterval"] == config.network.flow_logs.aggregation_interval
        assert logs["flowSampling"] == config.network.flow_logs.sampling
        assert logs["metadata"] == config.network.flow_logs.metadata


def test_reordering_subnets_in_config_changes_no_logical_name() -> None:
    raw = config_of("prod").model_dump()
    reordered = dict(reversed(list(raw["network"]["subnets"].items())))
    args = [
        config_of("prod").network,
        stack_config.StackConfig.model_validate({**raw, "network": {**raw["network"], "subnets": reordered}}).network,
    ]
    urns = [sorted(r.urn for r in _network_only(a).resources) for a in args]
    assert urns[0] == urns[1]


def test_ingress_is_denied_by_default_at_the_lowest_priority_and_logged(program: Recording) -> None:
    deny = _firewall(program, "deny-all-ingress")
    assert deny is not None
    assert deny["direction"] == "INGRESS"
    assert deny["priority"] == 65534
    assert deny["sourceRanges"] == ["0.0.0.0/0"]
    assert deny["denies"] == [{"protocol": "all"}]
    assert "allows" not in deny


def test_every_firewall_rule_logs(program: Recording) -> None:
    for rule in program.of(FIREWALL):
        assert rule.inputs["logConfig"]["metadata"] == "INCLUDE_ALL_METADATA", rule.name


def test_internal_traffic_is_allowed_only_from_the_platform_subnets(
    program: Recording, config: stack_config.StackConfig
) -> None:
    internal = _firewall(program, "allow-internal")
    assert internal is not None
    expected = {s.cidr for s in config.network.subnets.values()}
    expected |= {c for s in config.network.subnets.values() for c in s.secondary_ranges.values()}
    assert set(internal["sourceRanges"]) == expected  # type: ignore[arg-type]


def test_health_check_and_iap_rules_exist_only_where_config_asks_and_are_targeted(
    program: Recording, config: stack_config.StackConfig
) -> None:
    cases = {
        "allow-health-checks": (config.network.firewall.health_checks, set(HEALTH_CHECK_RANGES)),
        "allow-iap-tcp": (config.network.firewall.iap_tcp_forwarding, {IAP_TCP_FORWARDING_RANGE}),
    }
    for key, (wanted, sources) in cases.items():
        rule = _firewall(program, key)
        assert (rule is not None) == (wanted is not None), key
        if rule is not None and wanted is not None:
            assert set(rule["sourceRanges"]) == sources
            assert rule["allows"] == [{"protocol": "tcp", "ports": [str(p) for p in wanted.ports]}]
            assert rule.get("targetTags") or rule.get("targetServiceAccounts"), f"{key} must target tags or SAs"


def test_no_rule_opens_anything_to_the_internet(program: Recording) -> None:
    for rule in program.of(FIREWALL):
        if rule.inputs.get("allows"):
            for source in rule.inputs.get("sourceRanges", []):
                assert ipaddress.ip_network(source).prefixlen > 0, f"{rule.name} allows from {source}"


def _nat_regions(config: stack_config.StackConfig) -> list[str]:
    """Cloud NAT is regional: one router and gateway in each region that has subnets."""
    regions = {subnet.region or config.gcp.region for subnet in config.network.subnets.values()}
    return [config.gcp.region, *sorted(regions - {config.gcp.region})]


def test_cloud_nat_gives_private_egress_with_dynamic_ports_and_error_logging(
    program: Recording, config: stack_config.StackConfig
) -> None:
    nats = {n.inputs["region"]: n for n in program.of(NAT)}
    routers = {r.inputs["region"]: r for r in program.of("gcp:compute/router:Router")}
    assert sorted(nats) == sorted(routers) == sorted(_nat_regions(config))
    for region, gateway in nats.items():
        nat = gateway.inputs
        assert nat["enableDynamicPortAllocation"] is True
        assert nat["enableEndpointIndependentMapping"] is False
        assert nat["minPortsPerVm"] == config.network.nat.min_ports_per_vm
        assert nat["maxPortsPerVm"] == config.network.nat.max_ports_per_vm
        assert nat["logConfig"] == {"enable": True, "filter": config.network.nat.log_filter}
        assert nat["sourceSubnetworkIpRangesToNat"] == "ALL_SUBNETWORKS_ALL_IP_RANGES"
        assert program.depends_on(gateway, routers[region])


def test_static_nat_ips_come_from_config(program: Recording, config: stack_config.StackConfig) -> None:
    """The stack's region keeps the address names it had; another region's are named after it."""
    regions = _nat_regions(config)
    static = config.network.nat.static_ips
    addresses = program.of("gcp:compute/address:Address")
    assert {a.name for a in addresses} == {
        f"network-nat-{k}" + ("" if region == config.gcp.region else f"-{region}") for k in static for region in regions
    }
    for nat in program.of(NAT):
        if static:
            assert nat.inputs["natIpAllocateOption"] == "MANUAL_ONLY"
            assert len(nat.inputs["natIps"]) == len(static)
        else:
            assert nat.inputs["natIpAllocateOption"] == "AUTO_ONLY"
    assert len(program.outputs["nat_ips"]) == len(static) * len(regions)


def test_private_services_access_reserves_the_configured_range(
    program: Recording, config: stack_config.StackConfig
) -> None:
    psa = program.one("gcp:compute/globalAddress:GlobalAddress", purpose="VPC_PEERING").inputs
    network = ipaddress.ip_network(config.network.private_services.cidr)
    assert psa["addressType"] == "INTERNAL"
    assert (psa["address"], psa["prefixLength"]) == (str(network.network_address), network.prefixlen)
    connection = program.one("gcp:servicenetworking/connection:Connection").inputs
    assert connection["service"] == "servicenetworking.googleapis.com"
    assert connection["reservedPeeringRanges"] == [psa["name"]]
    assert connection["deletionPolicy"] == "ABANDON"


def test_serverless_subnet_is_large_enough_for_direct_vpc_egress(config: stack_config.StackConfig) -> None:
    cidr = config.network.subnets[config.network.serverless_subnet].cidr
    assert ipaddress.ip_network(cidr).prefixlen <= 26


def test_resources_wait_for_the_apis_they_call(program: Recording) -> None:
    apis = {r.inputs["service"]: r for r in program.of("gcp:projects/service:Service")}
    assert all(r.inputs["disableOnDestroy"] is False for r in apis.values())
    assert program.depends_on(program.one("gcp:compute/network:Network"), apis["compute.googleapis.com"])
    connection = program.one("gcp:servicenetworking/connection:Connection")
    assert program.depends_on(connection, apis["servicenetworking.googleapis.com"])


def test_consumers_of_private_services_network_wait_for_the_peering() -> None:
    """The Cloud SQL "no private connection" race: an instance must not be created before the peering exists."""

    def program() -> None:
        network = _build(config_of("dev"))
        gcp.sql.DatabaseInstance(
            "consumer",
            database_version="POSTGRES_15",
            settings=gcp.sql.DatabaseInstanceSettingsArgs(
                tier="db-f1-micro",
                ip_configuration=gcp.sql.DatabaseInstanceSettingsIpConfigurationArgs(
                    ipv4_enabled=False, private_network=network.ref.private_services_network
                ),
            ),
        )

    recording = run(program)
    consumer = recording.named("consumer")
    assert recording.depends_on(consumer, recording.one("gcp:servicenetworking/connection:Connection"))
    assert consumer.inputs["settings"]["ipConfiguration"]["privateNetwork"].endswith("-vpc")


def test_exports_network_outputs(program: Recording, config: stack_config.StackConfig) -> None:
    assert set(program.outputs["subnets"]) == set(config.network.subnets)
    psa = program.one("gcp:compute/globalAddress:GlobalAddress", purpose="VPC_PEERING")
    assert program.outputs["psa_range"] == psa.inputs["name"]
    assert program.outputs["network_self_link"].startswith("https://www.googleapis.com/compute/v1/projects/")


def _build(config: stack_config.StackConfig) -> Network:
    return Network("network", config.network, ctx=context_of("dev"))


def _network_only(args: object) -> Recording:
    config = config_of("prod")

    def program() -> None:
        _build(config.model_copy(update={"network": args}))

    return run(program, stack="prod")


def test_network_is_a_component_owning_its_resources() -> None:
    recording = run(lambda: _build(config_of("dev")))
    component = recording.one("platform:components:Network")
    owned = {r.type for r in recording.children(component)}
    assert {"gcp:compute/network:Network", SUBNET, FIREWALL, NAT} <= owned
