"""docs/cloud-facts.md: every fact names the test that encodes it, and that test exists."""

from __future__ import annotations

import ast
import re

from offline.engine import ROOT

FACTS = (ROOT / "docs" / "cloud-facts.md").read_text()
REFERENCE = re.compile(r"(tests/[\w/]+\.py)::(\w+)")
EDGE_REFERENCE = re.compile(r'(edge/test/[\w.-]+\.mjs) \("([^"]+)"')  # the Worker's node:test files, by test name


def _tests_in(path: str) -> set[str]:
    tree = ast.parse((ROOT / path).read_text())
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name.startswith("test")}


def test_every_fact_names_a_source_and_a_test() -> None:
    facts = [line for line in FACTS.splitlines() if line.startswith("- **")]
    assert len(facts) > 100
    assert [f for f in facts if not REFERENCE.search(f) and not EDGE_REFERENCE.search(f)] == []
    assert [f for f in facts if f.count(" — ") < 2] == []  # fact — source — test


def test_every_test_a_fact_names_exists() -> None:
    references = REFERENCE.findall(FACTS)
    defined = {path: _tests_in(path) for path in {p for p, _ in references} if (ROOT / path).is_file()}
    assert [f"{p}::{n}" for p, n in references if n not in defined.get(p, set())] == []


def test_every_worker_test_a_fact_names_exists() -> None:
    references = EDGE_REFERENCE.findall(FACTS)
    assert references
    missing = [(p, name) for p, name in references if name not in (ROOT / p).read_text()]
    assert missing == []
