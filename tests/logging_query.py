"""Evaluates a Cloud Logging query (the part of the language the platform's alert filters use) against a log entry
as JSON, to test a filter against the entries Google writes rather than against the code that built it.

From https://cloud.google.com/logging/docs/view/logging-query-language: comparisons `field OP value` with `=`, `!=`,
`<`, `<=`, `>`, `>=` and `:` (has: the field contains the value); a parenthesised `("a" OR "b")` on the right compares
with any of them; severities compare by their rank (ERROR above WARNING); a field the entry lacks matches nothing.
Queries that mix AND and OR at one level are refused rather than guessed at.
"""

from __future__ import annotations

import re
from typing import Any

SEVERITIES = ("DEFAULT", "DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL", "ALERT", "EMERGENCY")
_TOKEN = re.compile(r'\s*(?:(\()|(\))|("(?:[^"\\]|\\.)*")|(>=|<=|!=|=|<|>|:)|([^\s()"=<>!:]+))')


def _tokens(query: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    query = query.strip()
    while position < len(query):
        match = _TOKEN.match(query, position)
        if match is None:
            raise SyntaxError(f"cannot read the query at {query[position:]!r}")
        position = match.end()
        kinds = ("open", "close", "string", "op", "word")
        kind = next(k for k, group in zip(kinds, match.groups(), strict=True) if group is not None)
        text = match.group(kinds.index(kind) + 1)
        if kind == "word" and text in ("AND", "OR", "NOT"):
            kind = text
        tokens.append((kind, text))
    return tokens


class _Parser:
    def __init__(self, query: str) -> None:
        self.tokens = _tokens(query)
        self.i = 0

    def peek(self) -> str | None:
        return self.tokens[self.i][0] if self.i < len(self.tokens) else None

    def take(self, kind: str) -> str:
        if self.peek() != kind:
            raise SyntaxError(f"expected {kind} at token {self.i}: {self.tokens[self.i :][:3]}")
        self.i += 1
        return self.tokens[self.i - 1][1]

    def parse(self) -> Any:
        node = self.conjunction()
        if self.peek() is not None:
            raise SyntaxError(f"unexpected {self.tokens[self.i]}")
        return node

    def conjunction(self) -> Any:
        """Terms joined by AND or by OR: a query that mixes them without parentheses is refused, so that no filter
        depends on the precedence of the two."""
        nodes, joins = [self.negation()], set()
        while self.peek() in ("AND", "OR"):
            joins.add(self.take(str(self.peek())))
            nodes.append(self.negation())
        if len(joins) > 1:
            raise SyntaxError("the query mixes AND and OR without parentheses")
        return ("or" if joins == {"OR"} else "and", nodes)

    def negation(self) -> Any:
        if self.peek() == "NOT":
            self.take("NOT")
            return ("not", self.negation())
        if self.peek() == "open":
            self.take("open")
            node = self.conjunction()
            self.take("close")
            return node
        field = self.take("word")
        op = self.take("op")
        return ("compare", field, op, self.values())

    def values(self) -> list[str]:
        if self.peek() == "open":
            self.take("open")
            found = [self.value()]
            while self.peek() == "OR":
                self.take("OR")
                found.append(self.value())
            self.take("close")
            return found
        return [self.value()]

    def value(self) -> str:
        if self.peek() == "string":
            return self.take("string")[1:-1].replace('\\"', '"')
        return self.take("word")


def _field(entry: dict[str, Any], path: str) -> Any:
    value: Any = entry
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _compare(actual: Any, op: str, wanted: str, field: str) -> bool:
    if actual is None:
        return False
    if op == ":":
        return wanted.lower() in str(actual).lower()
    left: Any
    right: Any
    if field == "severity":
        left, right = SEVERITIES.index(str(actual)), SEVERITIES.index(wanted)
    elif isinstance(actual, int | float) and not isinstance(actual, bool):
        left, right = actual, float(wanted)
    else:
        left, right = str(actual), wanted
    return bool(
        {
            "=": left == right,
            "!=": left != right,
            "<": left < right,
            "<=": left <= right,
            ">": left > right,
            ">=": left >= right,
        }[op]
    )


def _evaluate(node: Any, entry: dict[str, Any]) -> bool:
    kind = node[0]
    if kind == "and":
        return all(_evaluate(n, entry) for n in node[1])
    if kind == "or":
        return any(_evaluate(n, entry) for n in node[1])
    if kind == "not":
        return not _evaluate(node[1], entry)
    _, field, op, wanted = node
    return any(_compare(_field(entry, field), op, w, field) for w in wanted)


def matches(query: str, entry: dict[str, Any]) -> bool:
    """Whether Cloud Logging would return `entry` for `query`."""
    return bool(_evaluate(_Parser(query).parse(), entry))
