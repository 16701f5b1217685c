"""docs/extending.md's worked example runs: its component registers what the page says, on the mock engine."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

from offline.engine import run
from tests.conftest import context_of
from tests.docs import ROOT, code_blocks

PAGE = "docs/extending.md"


def example_module() -> dict[str, Any]:
    """The page's module, as written, imported like a module of the project."""
    module = types.ModuleType("uploads_example")
    sys.modules[module.__name__] = module
    exec(compile(code_blocks(PAGE, "python")[0], PAGE, "exec"), module.__dict__)
    return module.__dict__


def test_the_worked_example_builds_a_private_protected_bucket() -> None:
    example = example_module()

    def program() -> None:
        example["Uploads"]("uploads", example["UploadsArgs"](location="europe-west1"), ctx=context_of("dev"))

    recording = run(program)
    bucket = recording.named("uploads-bucket")
    assert bucket.inputs["publicAccessPrevention"] == "enforced"
    assert bucket.inputs["uniformBucketLevelAccess"] is True
    assert bucket.inputs["lifecycleRules"][0]["condition"]["age"] == 30
    assert recording.depends_on(bucket, recording.named("apis-storage"))


def test_the_worked_example_refuses_an_unknown_key() -> None:
    with pytest.raises(ValueError, match="extra"):
        example_module()["UploadsArgs"](location="europe-west1", typo=1)


def test_the_page_names_the_six_places_and_the_readme_links_it() -> None:
    text = (ROOT / PAGE).read_text()
    for place in ("Its module", "Its config section", "composition", "Its facts record", "Its tests", "Its docs"):
        assert place in text, place
    assert "(docs/extending.md)" in (ROOT / "README.md").read_text()
