"""The price table: every price sourced, dated and marked by how sure it is, every region the stacks use complete,
and the regional relationships the pricing pages show."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from offline.estimate import prices
from offline.estimate.report import estimate
from tests.conftest import config_of, program_of

REGIONS = ("europe-west1", "europe-west4", "us-central1", "us-east1")


def test_every_price_names_its_source_date_and_basis() -> None:
    for region in REGIONS:
        for price in prices.load(region).prices.values():
            assert price.source.startswith("https://"), price.key
            assert re.fullmatch(r"20\d\d-(0[1-9]|1[0-2])", price.date), price.key
            assert price.basis in prices.BASES, price.key
            assert price.unit, price.key


def test_a_price_without_a_basis_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text(
        "sources: {x: https://example.com}\nglobal: {}\n"
        "regions: {r1: {k: {price: 1, unit: u, source: x, date: '2026-12'}}}\n"
    )
    with pytest.raises(ValueError, match=r"'k' needs basis: one of page, catalog"):
        prices.load("r1", path)


def test_the_regions_the_stacks_use_have_prices_and_every_region_has_every_key() -> None:
    keys = {region: set(prices.load(region).prices) for region in REGIONS}
    assert set(prices.regions()) >= set(REGIONS)
    for region in REGIONS:
        assert keys[region] == keys["europe-west1"], region
    for stack in ("dev", "staging", "prod"):
        assert config_of(stack).gcp.region in prices.regions(), stack


def _price(region: str, key: str) -> float:
    return prices.load(region)[key].unit_price


@pytest.mark.parametrize(
    "key",
    [
        "sql.enterprise.vcpu",
        "sql.enterprise.memory",
        "sql.enterprise_plus.vcpu",
        "sql.enterprise_plus.memory",
        "sql.shared.db-f1-micro",
        "sql.storage.PD_SSD",
        "sql.data_cache",
        "storage.regional.STANDARD",
        "ip.static_in_use",
        "nat.gateway",
        "nat.data",
    ],
)
def test_belgium_is_priced_as_iowa_for_cloud_sql_storage_addresses_and_nat(key: str) -> None:
    assert _price("europe-west1", key) == _price("us-central1", key) == _price("us-east1", key)


@pytest.mark.parametrize("key", ["sql.enterprise.vcpu", "sql.enterprise_plus.vcpu", "sql.storage.PD_SSD"])
def test_the_netherlands_cloud_sql_costs_a_tenth_more_than_iowa(key: str) -> None:
    assert _price("europe-west4", key) == pytest.approx(1.1 * _price("us-central1", key), rel=0.002)


@pytest.mark.parametrize("region", REGIONS)
@pytest.mark.parametrize("tier", ["BASIC", "STANDARD_HA"])
def test_memorystore_is_cheaper_per_gb_in_each_larger_capacity_tier(region: str, tier: str) -> None:
    steps = [_price(region, f"redis.{tier}.M{n}") for n in range(1, 6)]
    assert steps == sorted(steps, reverse=True), steps
    assert len(set(steps)) == 5, steps
    if tier == "STANDARD_HA":
        assert all(
            s > b for s, b in zip(steps, [_price(region, f"redis.BASIC.M{n}") for n in range(1, 6)], strict=True)
        )


def test_memorystore_in_europe_costs_more_than_in_iowa() -> None:
    for n in range(1, 6):
        assert _price("europe-west1", f"redis.STANDARD_HA.M{n}") > _price("us-central1", f"redis.STANDARD_HA.M{n}")
        assert _price("europe-west1", f"redis.BASIC.M{n}") == _price("europe-west4", f"redis.BASIC.M{n}")


def test_announced_charges_carry_their_start_date() -> None:
    alerting = prices.load("europe-west1")["monitoring.alert_reference"]
    assert alerting.starts == "2027-09-01"
    assert [p.key for p in prices.load("europe-west1").prices.values() if p.starts] == ["monitoring.alert_reference"]


@pytest.mark.parametrize("region", ["us-central1", "europe-west4"])
def test_a_stack_in_another_priced_region_gets_an_estimate_in_its_prices(region: str) -> None:
    config = config_of("staging")
    moved = config.model_copy(update={"gcp": config.gcp.model_copy(update={"region": region})})
    result = estimate("staging", program_of("staging"), moved)
    assert result.cost is not None
    assert result.cost.region == region
    assert result.cost.total > 0
