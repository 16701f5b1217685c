"""Facts records (offline/catalog): every type a program registers has a complete one, keyed by its SDK class."""

from __future__ import annotations

import pkgutil
import re

import pulumi_gcp as gcp
import pytest

from offline import catalog
from offline.catalog.facts import API_CALL, Facts, MockContext, inputs_only, named
from offline.engine import ROOT, Recording
from offline.estimate.deploy_time import create_seconds
from offline.estimate.pricing import HOURS, fixed
from tests.conftest import ALL_STACKS
from tests.test_bootstrap import bootstrap_config, run_bootstrap

HOW = "add a Facts record to a module of offline/catalog (docs/estimates.md, 'Adding a resource type')"


def _incomplete(recording: Recording) -> dict[str, str]:
    """Registered types whose record is missing or does not describe their resources, with what is wrong."""
    problems: dict[str, str] = {}
    for r in recording.resources:
        if not r.custom or r.type.startswith("pulumi:providers:"):
            continue
        facts = catalog.facts_of(r.type)
        if facts is None:
            problems[r.type] = "no facts record"
        elif facts.outputs is not inputs_only and "id" not in r.outputs:
            problems[r.type] = f"its mock outputs give {r.name} no id"
        elif not facts.summary(r.inputs).strip():
            problems[r.type] = f"its summary of {r.name} is empty"
        elif create_seconds(r) < 0:
            problems[r.type] = f"a negative create time for {r.name}"
    return problems


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_every_type_a_stack_registers_has_a_complete_record(program: Recording) -> None:
    assert _incomplete(program) == {}, HOW


def test_every_type_the_bootstrap_registers_has_a_complete_record() -> None:
    assert _incomplete(run_bootstrap(bootstrap_config())) == {}, HOW


def _record(resource: object, **fields: object) -> Facts:
    defaults: dict[str, object] = {
        "outputs": inputs_only,
        "summary": lambda i: "x",
        "create_seconds": 1,
        "free": "costs nothing",
    }
    return Facts(resource, **{**defaults, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize("key", ["gcp:compute/uRLMap:URLMap", "gcp.compute.URLMap", gcp.compute.URLMapArgs])
def test_a_record_is_keyed_by_a_resource_class_not_a_token_string(key: object) -> None:
    with pytest.raises(TypeError, match=r"SDK class \(e\.g\. gcp\.compute\.URLMap\)"):
        _record(key)


def test_providers_need_no_record() -> None:
    with pytest.raises(TypeError, match="providers need no facts record"):
        _record(gcp.Provider)


def test_a_record_takes_its_token_from_the_class() -> None:
    assert _record(gcp.compute.URLMap).token == "gcp:compute/uRLMap:URLMap"


def test_two_records_for_one_class_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"two facts records for URLMap \(gcp:compute/uRLMap:URLMap\)"):
        catalog.index([_record(gcp.compute.URLMap), _record(gcp.compute.URLMap, create_seconds=15)])


@pytest.mark.parametrize("fields", [{"free": ""}, {"price": lambda r, ctx: []}])
def test_a_record_gives_either_a_price_or_a_free_reason(fields: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"either `price`.* or `free`"):
        _record(gcp.pubsub.Topic, **fields)


def test_every_module_of_the_catalog_is_an_area() -> None:
    modules = {info.name for info in pkgutil.iter_modules(catalog.__path__)} - {"facts"}
    listed = [area.__name__ for area in catalog.AREAS] + list(catalog.LATER)
    assert modules == {name.rsplit(".", 1)[-1] for name in listed}


def test_the_example_record_in_the_docs_builds() -> None:
    text = (ROOT / "docs" / "estimates.md").read_text().split("## Adding a resource type", 1)[1]
    (example,) = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    scope = {"Facts": Facts, "gcp": gcp, "named": named, "fixed": fixed, "HOURS": HOURS, "API_CALL": API_CALL}
    exec(example, scope)
    record = scope["record"]
    assert isinstance(record, Facts)
    assert record.token == "gcp:container/cluster:Cluster"
    assert "endpoint" in record.outputs(MockContext("acme-dev", "europe-west1"), "gke", {"location": "europe-west1"})
