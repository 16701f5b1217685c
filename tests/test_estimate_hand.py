"""The estimate equals the hand computation docs/estimates.md shows for dev and prod, and every `free` reason of the
facts records is one the docs audited against the pricing pages."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

import pytest

from offline.catalog import FACTS, facts_of, load_all
from offline.engine import ROOT
from offline.estimate import prices
from offline.estimate.report import estimate
from tests.conftest import STACKS, config_of, program_of

DOC = (ROOT / "docs" / "estimates.md").read_text()
CENT = 0.01


@dataclass(frozen=True)
class HandLine:
    item: str
    quantity: float
    price: float
    key: str
    region: str
    basis: str
    usd: float


def _number(cell: str) -> float:
    return float(cell.strip().strip("*").replace(",", ""))


def _table(heading: str, section: str) -> list[dict[str, str]]:
    """The rows of the first table after `heading` (or the start) of the `section` (## ...) of the document."""
    body = DOC.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    if heading:
        body = body.split(f"\n{heading}\n", 1)[1]
    lines = body.splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith("|"))
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    header, _, *rows = table
    return [dict(zip(header, cells, strict=True)) for cells in rows]


def hand_computation(stack: str) -> tuple[list[HandLine], float]:
    rows = _table(f"### {stack}", "Worked computations: dev and prod")
    lines = [
        HandLine(
            item=row["Line item"],
            quantity=_number(row["Quantity"]),
            price=_number(row["Price (USD)"]),
            key=row["Price key"].strip("`"),
            region=row["Region"],
            basis=row["Basis"],
            usd=_number(row["USD"]),
        )
        for row in rows
        if row["Line item"] != "**Total**"
    ]
    (total,) = [_number(row["USD"]) for row in rows if row["Line item"] == "**Total**"]
    return lines, total


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_each_documented_line_multiplies_out_at_the_price_tables_price(stack: str) -> None:
    lines, total = hand_computation(stack)
    assert len(lines) >= 20
    for line in lines:
        price = prices.load(line.region)[line.key]
        assert line.price in [tier.price for tier in price.tiers], f"{line.item}: {line.key} is not {line.price}"
        assert line.basis == price.basis, f"{line.item}: {line.key} is {price.basis} in the price table"
        assert line.quantity * line.price == pytest.approx(line.usd, abs=CENT * 0.51), line.item  # to the cent
    assert sum(line.usd for line in lines) == pytest.approx(total, abs=CENT)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_estimate_equals_the_documented_hand_computation(stack: str) -> None:
    lines, total = hand_computation(stack)
    tool = estimate(stack, program_of(stack), config_of(stack)).cost
    assert tool is not None
    by_price: dict[tuple[str, str], float] = defaultdict(float)
    for line in tool.lines:
        by_price[line.price, line.region or tool.region] += line.usd
    documented: dict[tuple[str, str], list[HandLine]] = defaultdict(list)
    for hand in lines:
        documented[hand.key, hand.region].append(hand)
    for key in sorted(set(by_price) | set(documented)):
        usd = sum(hand.usd for hand in documented.get(key, []))
        # each documented amount is rounded to the cent
        assert by_price.get(key, 0.0) == pytest.approx(usd, abs=CENT * max(1, len(documented.get(key, [])))), key
    assert tool.total == pytest.approx(total, abs=CENT * len(lines) / 4)


def test_the_hand_computation_covers_the_charges_that_moved_the_estimate() -> None:
    """The billing model's corrections are each a documented line: not a table that happens to add up."""
    keys = {line.key for line in hand_computation("prod")[0]}
    assert {
        "sql.data_cache",
        "run.instance.cpu",
        "run.idle.cpu",
        "network.inter_region",
        "cloudflare.plan.business",
    } <= (keys)
    assert {"nat.ip", "artifacts.scan", "logging.network"} <= {line.key for line in hand_computation("dev")[0]}


def _audited_reasons() -> dict[str, str]:
    return {row["Reason (the record's `free`)"]: row["Basis"] for row in _table("", "What costs nothing")}


def test_every_free_reason_of_the_facts_records_is_audited_in_the_docs() -> None:
    """A billable type cannot pass as free: each `free` reason is one the docs checked against a pricing page."""
    load_all()  # the records of the areas that load on first use (Kubernetes, the bootstrap's) too
    audited = _audited_reasons()
    reasons = {record.free: record.token for record in FACTS.values() if record.free}
    unaudited = {reason: token for reason, token in reasons.items() if reason not in audited}
    assert unaudited == {}, "add a row for each to docs/estimates.md, What costs nothing, with the page that says so"
    assert all(basis.startswith(("page:", "knowledge:", "no cloud resource")) for basis in audited.values())


def test_every_type_the_stacks_register_is_priced_or_audited_as_free(stack: str) -> None:
    audited = _audited_reasons()
    for resource in program_of(stack).resources:
        if not resource.custom or resource.type.startswith("pulumi:providers:"):
            continue
        record = facts_of(resource.type)
        assert record is not None, f"{resource.type} has no facts record"
        assert record.price is not None or record.free in audited, resource.type


def test_the_stacks_are_the_ones_the_hand_computation_knows() -> None:
    assert {"dev", "prod"} <= set(STACKS)
    assert re.search(r"^### dev$", DOC, flags=re.MULTILINE)
    assert re.search(r"^### prod$", DOC, flags=re.MULTILINE)
