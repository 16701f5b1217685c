"""The README's promises hold: its estimates are what the plan prints, and every document it links exists."""

from __future__ import annotations

import re

import pytest

from offline.engine import ROOT
from offline.estimate import cost, report
from tests.conftest import ALL_STACKS, program_of

README = (ROOT / "README.md").read_text()


def estimate_row(stack: str) -> str:
    program = program_of(stack)
    estimates = report.estimate(stack, program, report.config_of(stack))
    assert estimates.cost is not None, estimates.cost_error
    return f"| {stack} | ${cost.whole_dollars(estimates.cost.total)} | {estimates.deploy.minutes} min |"


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_the_readme_states_each_stacks_estimates_as_the_plan_prints_them(stack: str) -> None:
    row = estimate_row(stack)
    assert row in README.splitlines(), f"update the README's estimates table with: {row}"


def test_every_document_the_readme_links_exists() -> None:
    links = re.findall(r"\]\(((?:docs|[a-z]+)/[^)#]+)", README)
    assert links
    missing = [link for link in links if not (ROOT / link).exists()]
    assert missing == []
