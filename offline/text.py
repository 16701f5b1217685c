"""Plain-text and Markdown helpers shared by the plan, its estimates and the diff: lines a reviewer can read."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable

WIDTH = 120  # the widest line the text plan prints, as the code's own line length
DIGEST = re.compile(r"(sha256:[0-9a-f]{12})[0-9a-f]{52}")


def shorten(text: str) -> str:
    """Image digests cut to their first 12 hex digits, as `docker images` shows them (the JSON keeps them whole)."""
    return DIGEST.sub(r"\1...", text)


def wrap(line: str, width: int | None = WIDTH) -> list[str]:
    """One logical line as lines of at most `width` characters; continuation lines are indented four more spaces
    than the first. `width=None` keeps the line whole."""
    if width is None or len(line) <= width:
        return [line]
    lead = " " * (len(line) - len(line.lstrip(" ")))
    return textwrap.wrap(
        line.strip(),
        width=width,
        initial_indent=lead,
        subsequent_indent=lead + "    ",
        break_long_words=True,
        break_on_hyphens=False,
    )


def wrap_all(lines: Iterable[str], width: int | None = WIDTH) -> list[str]:
    return [part for line in lines for part in wrap(line, width)]


def cell(value: object) -> str:
    """A value inside a Markdown table cell: pipes escaped, newlines as spaces."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def table(header: tuple[str, ...], rows: Iterable[tuple[object, ...]], *, right: tuple[int, ...] = ()) -> list[str]:
    """A GitHub-flavoured Markdown table; the columns whose index is in `right` are right-aligned (numbers)."""
    align = ["---:" if i in right else "---" for i in range(len(header))]
    lines = [f"| {' | '.join(header)} |", f"| {' | '.join(align)} |"]
    lines += [f"| {' | '.join(cell(v) for v in row)} |" for row in rows]
    return lines


def details(summary: str, body: list[str]) -> list[str]:
    """A collapsed section: GitHub renders Markdown inside it when blank lines surround the body."""
    return [f"<details><summary>{summary}</summary>", "", *body, "", "</details>"]


def code(body: list[str], language: str = "text") -> list[str]:
    fence = "````" if any(line.startswith("```") for line in body) else "```"
    return [f"{fence}{language}", *body, fence]


def usd_delta(value: float) -> str:
    """A monthly cost change as `+$N` / `-$N` (whole dollars; cents below a dollar)."""
    sign = "-" if value < 0 else "+"
    amount = abs(value)
    return f"{sign}${amount:,.2f}" if 0 < amount < 1 else f"{sign}${amount:,.0f}"
