"""The price table (offline/prices.yaml): list prices per region, each with its unit, source, date and basis."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PRICES = Path(__file__).resolve().parent.parent / "prices.yaml"
# How sure a price is, from Google's own page down to a remembered figure (the header of prices.yaml says more).
BASES = ("page", "catalog", "derived", "third-party", "knowledge")
BILLING_ACCOUNT = "billing account"


class MissingPriceError(LookupError):
    """The table has no price the estimate needs (a region or a SKU): the message says what to add."""


@dataclass(frozen=True)
class Tier:
    upto: float | None  # cumulative monthly quantity up to which `price` applies; None: no limit
    price: float


@dataclass(frozen=True)
class Price:
    key: str
    unit: str
    tiers: tuple[Tier, ...]
    source: str
    date: str
    basis: str = "page"
    free: float = 0.0  # units a month before the price applies
    per: str = ""  # whose free tier: "billing account", "project", "account" (Cloudflare)
    starts: str = ""  # an announced charge, not yet applied: the date it starts at the earliest

    @property
    def unit_price(self) -> float:
        """The price of a unit beyond the free tier and the first volume steps (the last tier's)."""
        return self.tiers[-1].price

    def cost(self, quantity: float, *, free_tier: bool = True) -> float:
        """The monthly cost of `quantity` units, stepping through the free allowance and volume tiers; without
        `free_tier` the allowance is taken to be used up elsewhere (by other projects on the billing account)."""
        if self.free and not free_tier:
            return quantity * self.unit_price
        total, start = 0.0, 0.0
        for tier in self.tiers:
            end = quantity if tier.upto is None else min(quantity, tier.upto)
            if end > start:
                total += (end - start) * tier.price
            if tier.upto is None or quantity <= tier.upto:
                break
            start = tier.upto
        return total


@dataclass(frozen=True)
class PriceTable:
    region: str
    prices: dict[str, Price]
    path: Path = field(default=PRICES, compare=False)

    def __getitem__(self, key: str) -> Price:
        try:
            return self.prices[key]
        except KeyError:
            raise MissingPriceError(f"offline/prices.yaml has no price '{key}' for {self.region}; add it") from None

    def of(self, region: str | None) -> PriceTable:
        """The table of another region (a replica's, a backup's), from the same file; this one for None."""
        return self if region is None or region == self.region else load(region, self.path)

    def price(self, key: str, region: str | None = None) -> Price:
        return self.of(region)[key]


def _price(key: str, entry: dict[str, Any], sources: dict[str, str]) -> Price:
    free = float(entry.get("free") or 0)
    if "tiers" in entry:
        tiers = tuple(Tier(t.get("upto"), float(t["price"])) for t in entry["tiers"])
    elif free:
        tiers = (Tier(free, 0.0), Tier(None, float(entry["price"])))
    else:
        tiers = (Tier(None, float(entry["price"])),)
    if tiers[-1].upto is not None:
        raise ValueError(f"offline/prices.yaml: the last tier of '{key}' must have no 'upto'")
    basis = str(entry.get("basis") or "")
    if basis not in BASES:
        raise ValueError(f"offline/prices.yaml: '{key}' needs basis: one of {', '.join(BASES)} (got '{basis}')")
    return Price(
        key=key,
        unit=str(entry["unit"]),
        tiers=tiers,
        source=sources[entry["source"]],
        date=str(entry["date"]),
        basis=basis,
        free=free,
        per=str(entry.get("per") or ""),
        starts=str(entry.get("starts") or ""),
    )


# libyaml's safe loader where PyYAML was built with it (its wheels are): the price table is read on every plan, ten
# times faster than by the pure-Python loader.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.cache
def _document(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.load(path.read_text(), Loader=_LOADER)  # a safe loader
    return document


def regions(path: Path = PRICES) -> list[str]:
    return sorted(_document(path)["regions"])


@functools.cache
def load(region: str, path: Path = PRICES) -> PriceTable:
    """The prices that apply in `region`: the region's list prices plus the global ones."""
    document = _document(path)
    blocks: dict[str, dict[str, Any]] = document["regions"]
    if region not in blocks:
        raise MissingPriceError(
            f"offline/prices.yaml has no list prices for region {region} (it has: {', '.join(sorted(blocks))});"
            f" add a 'regions.{region}' block read from the pricing pages"
        )
    sources: dict[str, str] = document["sources"]
    entries = {**document["global"], **blocks[region]}
    return PriceTable(region, {key: _price(key, entry, sources) for key, entry in entries.items()}, path)
