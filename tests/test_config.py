"""Bad stack config stops the program before anything is registered, with one line naming the key to fix."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pulumi
import pytest

import stack_config
from components import config_types
from offline.engine import ROOT, Recording, run_program
from offline.engine import stack_config as stack_values
from tests.conftest import ALL_STACKS, config_error, raw_config


def _error(mutate: Any, stack: str = "dev") -> str:
    return config_error(stack, mutate)


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_every_stack_file_is_valid(stack: str) -> None:
    stack_config.parse(raw_config(stack), stack_file=f"Pulumi.{stack}.yaml")


def test_missing_required_key_is_named() -> None:
    message = _error(lambda raw: raw["network"].pop("private_services"))
    assert "network.private_services is required; add it to Pulumi.dev.yaml" in message


def test_wrong_type_is_named_with_the_value() -> None:
    message = _error(lambda raw: raw["network"]["nat"].update(min_ports_per_vm="lots"))
    assert "network.nat.min_ports_per_vm: input should be a valid integer" in message
    assert "'lots'" in message


def test_unknown_top_level_key_is_a_typo() -> None:
    message = _error(lambda raw: raw.update(netwrok={}))
    assert "netwrok is not a known key; check its spelling (allowed here: gcp, prefix," in message


def test_unknown_deep_key_is_a_typo_and_lists_the_allowed_keys() -> None:
    message = _error(lambda raw: raw["network"]["subnets"]["app"].update(cdir="10.9.0.0/24"))
    assert "network.subnets.app.cdir is not a known key" in message
    assert "allowed here: cidr, region, secondary_ranges, flow_logs" in message


def test_invalid_region_suggests_the_closest() -> None:
    message = _error(lambda raw: raw["gcp"].update(region="europe-wst1"))
    assert "gcp.region: 'europe-wst1' is not a Google Cloud region; did you mean 'europe-west1'?" in message


def test_invalid_cidr_is_rejected() -> None:
    message = _error(lambda raw: raw["network"]["subnets"]["app"].update(cidr="10.10.0.300/20"))
    assert "network.subnets.app.cidr: '10.10.0.300/20' is not a CIDR range" in message


def test_cidr_with_host_bits_suggests_the_network() -> None:
    message = _error(lambda raw: raw["network"]["subnets"]["app"].update(cidr="10.10.0.1/20"))
    assert "network.subnets.app.cidr: '10.10.0.1/20' has host bits set; did you mean '10.10.0.0/20'?" in message


def test_public_cidr_is_rejected() -> None:
    message = _error(lambda raw: raw["network"]["private_services"].update(cidr="8.8.0.0/16"))
    assert "network.private_services.cidr: '8.8.0.0/16' is not a private IPv4 range" in message


def test_overlapping_cidrs_name_both_keys() -> None:
    message = _error(lambda raw: raw["network"]["private_services"].update(cidr="10.10.0.0/16"))
    assert "network.private_services.cidr: 10.10.0.0/16 overlaps subnets.app.cidr (10.10.0.0/20)" in message


def test_overlapping_secondary_range_is_rejected() -> None:
    message = _error(lambda raw: raw["network"]["subnets"]["app"].update(secondary_ranges={"pods": "10.10.16.0/22"}))
    assert "network.subnets.app.secondary_ranges.pods: 10.10.16.0/22 overlaps subnets.serverless.cidr" in message


def test_min_above_max_is_rejected() -> None:
    message = _error(lambda raw: raw["network"]["nat"].update(min_ports_per_vm=2048, max_ports_per_vm=1024))
    assert "network.nat.min_ports_per_vm: min_ports_per_vm (2048) is above max_ports_per_vm (1024)" in message


def test_nat_ports_must_be_powers_of_two() -> None:
    message = _error(lambda raw: raw["network"]["nat"].update(min_ports_per_vm=100))
    assert "network.nat.min_ports_per_vm: 100 is not a power of two" in message


def test_serverless_subnet_must_exist_and_be_large_enough() -> None:
    assert "network.serverless_subnet: 'lambda' is not one of subnets: app, serverless" in _error(
        lambda raw: raw["network"].update(serverless_subnet="lambda")
    )
    message = _error(lambda raw: raw["network"]["subnets"]["serverless"].update(cidr="10.10.16.0/27"))
    assert "network.subnets.serverless.cidr: /27 is too small for Direct VPC egress; use /26 or larger" in message


def test_targeted_rules_need_exactly_one_kind_of_target() -> None:
    message = _error(lambda raw: raw["network"]["firewall"]["iap_tcp_forwarding"].update(target_tags=[]))
    assert "network.firewall.iap_tcp_forwarding.target_tags: set exactly one of target_tags" in message


def test_nat_subnets_must_exist() -> None:
    message = _error(lambda raw: raw["network"]["nat"].update(subnets=["app", "db"]))
    assert "network.nat.subnets: unknown subnet(s) db" in message


def _with(stack: str, **changes: Any) -> dict[str, str]:
    values, _ = stack_values(stack)
    return {**values, **{f"platform:{k}": json.dumps(v) for k, v in changes.items()}}


def test_bad_config_registers_no_resource() -> None:
    raw = raw_config("dev")
    network = {**raw["network"], "routing_mode": "WORLDWIDE"}  # type: ignore[dict-item]
    recording = Recording()
    with pytest.raises(pulumi.RunError, match=r"network\.routing_mode: input should be 'REGIONAL' or 'GLOBAL'"):
        run_program("dev", config=_with("dev", network=network), into=recording)
    assert recording.resources == []


def test_offline_plan_prints_one_clean_line_for_bad_config() -> None:
    stack_file = ROOT / "Pulumi.brokenexample.yaml"
    stack_file.write_text((ROOT / "Pulumi.dev.yaml").read_text().replace("region: europe-west1", "region: mars-1"))
    try:
        done = subprocess.run(
            [sys.executable, "-m", "offline.plan", "brokenexample"], cwd=ROOT, capture_output=True, text=True
        )
    finally:
        stack_file.unlink()
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "error: invalid stack config in Pulumi.brokenexample.yaml: gcp.region: 'mars-1' is not a Google Cloud region;"
        " see cloud.google.com/about/locations"
    ]


def test_the_readme_error_example_is_what_the_program_prints() -> None:
    readme = (ROOT / "README.md").read_text()
    (example,) = [line for line in readme.splitlines() if line.startswith("error: invalid stack config")]
    message = _error(lambda raw: raw["network"]["private_services"].update(cidr="10.10.0.0/16"))
    assert example == f"error: {message}"


def test_a_service_must_use_a_database_the_stack_creates() -> None:
    message = _error(lambda raw: raw["services"]["orders"].update(database="billing"))
    assert "services.orders.database: 'billing' is not one of database.databases: app" in message


def test_the_load_balancer_may_route_only_to_known_services() -> None:
    message = _error(lambda raw: raw["load_balancer"].update(services=["api", "search"]), stack="prod")
    assert "load_balancer.services: 'search' is not one of services" in message


def test_behind_load_balancer_must_match_what_the_load_balancer_routes() -> None:
    message = _error(
        lambda raw: raw["services"]["orders"].update(behind_load_balancer=True, ingress="internal-and-lb"), stack="prod"
    )
    assert "services.orders.behind_load_balancer: set it to False to match load_balancer.services" in message


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda raw: raw["backup"].setdefault("exports", {}).update(time_zone="Europe/Brusels"),
            "backup.exports.time_zone: 'Europe/Brusels' is not an IANA time zone; did you mean 'Europe/Brussels'?",
        ),
        (
            lambda raw: raw["backup"].setdefault("exports", {}).update(time_zone="CEST"),
            "backup.exports.time_zone: 'CEST' is not an IANA time zone; did you mean",  # an abbreviation, not a zone
        ),
        (
            lambda raw: raw["schedule"]["database_office_hours"].update(time_zone="europe/brussels"),
            "schedule.database_office_hours.time_zone: 'europe/brussels' is not an IANA time zone; "
            "did you mean 'Europe/Brussels'?",
        ),
        (
            lambda raw: raw["backup"].setdefault("exports", {}).update(time_zone="localtime"),
            "backup.exports.time_zone: 'localtime' is not an IANA time zone; write an IANA name like Europe/Brussels",
        ),
    ],
)
def test_every_time_zone_is_an_iana_name(mutate: Any, message: str) -> None:
    assert message in _error(mutate)


def test_time_zones_are_the_pinned_iana_list_not_the_machines() -> None:
    zones = config_types.time_zones()
    assert {"Etc/UTC", "UTC", "Europe/Brussels", "America/Argentina/Buenos_Aires"} <= zones
    assert not {"localtime", "Factory", "posixrules"} & zones


def test_an_edge_origin_naming_a_service_when_there_are_none_says_how_to_fix_it() -> None:
    message = _error(lambda raw: raw.update(services={}))
    assert message.endswith(
        "edge.worker.origins.eu.service: 'api' is not one of services, which is empty; define api under services, "
        "or give this origin as https://<hostname> instead"
    )
