"""Reading the docs' examples: fenced code blocks, so a test can run what a page shows."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
_FENCE = re.compile(r"```(\w*)\n(.*?)```", flags=re.DOTALL)


def code_blocks(page: str | Path, language: str = "yaml") -> list[str]:
    """The fenced blocks of `language` in a page (a path relative to the project, or absolute), in order."""
    text = (ROOT / page).read_text()
    return [body for lang, body in _FENCE.findall(text) if lang == language]


def yaml_blocks(page: str | Path) -> list[Any]:
    """The page's YAML blocks, parsed."""
    return [yaml.safe_load(block) for block in code_blocks(page)]
