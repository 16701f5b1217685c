"""The price table (offline/prices.yaml): list prices per region, each with its unit, source page and date."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PRICES = Path(__file__).resolve().parent.parent / "prices.yaml"


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

    def cost(self, quantity: float) -> float:
        """The monthly cost of `quantity` units, stepping through free allowances and volume tiers."""
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

    def __getitem__(self, key: str) -> Price:
        try:
            return self.prices[key]
        except KeyError:
            raise MissingPriceError(f"offline/prices.yaml has no price '{key}' for {self.region}; add it") from None

    def check(self, keys: Iterable[str]) -> None:
        """Raise MissingPriceError for the first of `keys` the table lacks."""
        for key in keys:
            self[key]


def _price(key: str, entry: dict[str, Any], sources: dict[str, str]) -> Price:
    if "tiers" in entry:
        tiers = tuple(Tier(t.get("upto"), float(t["price"])) for t in entry["tiers"])
    elif entry.get("free"):
        tiers = (Tier(float(entry["free"]), 0.0), Tier(None, float(entry["price"])))
    else:
        tiers = (Tier(None, float(entry["price"])),)
    if tiers[-1].upto is not None:
        raise ValueError(f"offline/prices.yaml: the last tier of '{key}' must have no 'upto'")
    return Price(key=key, unit=str(entry["unit"]), tiers=tiers, source=sources[entry["source"]], date=entry["date"])


@functools.cache
def _document(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    return document


def load(region: str, path: Path = PRICES) -> PriceTable:
    """The prices that apply in `region`: the region's list prices plus the global ones."""
    document = _document(path)
    regions: dict[str, dict[str, Any]] = document["regions"]
    if region not in regions:
        raise MissingPriceError(
            f"offline/prices.yaml has no list prices for region {region} (it has: {', '.join(sorted(regions))});"
            f" add a 'regions.{region}' block read from the pricing pages"
        )
    sources: dict[str, str] = document["sources"]
    entries = {**document["global"], **regions[region]}
    return PriceTable(region, {key: _price(key, entry, sources) for key, entry in entries.items()})
