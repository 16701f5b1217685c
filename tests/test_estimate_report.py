"""What `make plan` prints and writes after the resource tree: cost line, breakdown, warnings, deploy time, pictures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from offline import plan
from offline.estimate import report
from stack_config import EstimatesArgs
from tests.conftest import config_of, program_of
from tests.records import Builder


def _expensive() -> Builder:
    b = Builder()
    cache = b.component("Cache", "cache")
    b.add("gcp:redis/instance:Instance", "cache-redis", {"tier": "STANDARD_HA", "memorySizeGb": 5}, parent=cache)
    return b


def test_the_plan_prints_the_cost_line_breakdown_and_deploy_time_line() -> None:
    estimates = report.estimate("dev", program_of("dev"), config_of("dev"))
    text = report.render(estimates)
    lines = text.splitlines()
    assert lines[0].startswith("Estimated monthly cost: $")
    assert any(line.startswith("By component (dominated by ") for line in lines)
    assert any(line.startswith("Top resources (of ") for line in lines)
    assert lines[-1].startswith("Estimated deploy time: ")
    assert "critical path: " in lines[-1]


def test_a_stack_over_its_budget_gets_a_warning_line() -> None:
    config = config_of("dev").model_copy(update={"estimates": EstimatesArgs(budget_usd=100)})
    text = report.render(report.estimate("dev", _expensive().recording, config))
    assert "Estimated monthly cost: $" in text
    assert "WARNING: the estimate is $" in text
    assert "over the stack's budget of $100.00 a month" in text
    within = config_of("dev").model_copy(update={"estimates": EstimatesArgs(budget_usd=1000)})
    assert "WARNING" not in report.render(report.estimate("dev", _expensive().recording, within))


def test_a_region_without_prices_still_plans_and_says_what_to_add() -> None:
    config = config_of("dev")
    elsewhere = config.model_copy(update={"gcp": config.gcp.model_copy(update={"region": "asia-east1"})})
    estimates = report.estimate("dev", _expensive().recording, elsewhere)
    assert estimates.cost is None
    assert report.render(estimates).startswith(
        "Estimated monthly cost: unavailable (offline/prices.yaml has no list prices for region asia-east1"
    )
    assert estimates.to_json()["monthlyCost"]["error"].startswith("offline/prices.yaml has no list prices")


def test_the_plan_json_carries_the_estimates(stack: str) -> None:
    recording = program_of(stack)
    estimates = report.estimate(stack, recording, config_of(stack))
    document = json.loads(json.dumps(plan.to_json(stack, recording, estimates)))
    cost = document["estimates"]["monthlyCost"]
    assert cost["monthlyUsd"] == pytest.approx(sum(line["usd"] for line in cost["lines"]), abs=0.01)
    assert document["estimates"]["deployTime"]["criticalPath"]


def test_the_plan_writes_the_architecture_as_mermaid_and_dot(tmp_path: Path) -> None:
    estimates = report.estimate("prod", program_of("prod"), config_of("prod"))
    written = report.write_diagrams(estimates, tmp_path)
    assert [p.name for p in written] == ["architecture-prod.mmd", "architecture-prod.dot"]
    assert written[0].read_text().startswith("flowchart LR\n")
    assert written[1].read_text().startswith('digraph "prod" {')
