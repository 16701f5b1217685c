"""Runs a Cloud Workflows definition offline, against fake connectors and a fake clock.

It interprets the part of the syntax the export workflows use (https://cloud.google.com/workflows/docs/reference/syntax):
steps with `assign`, `call` (a fake connector or function, `sys.sleep`, or a subworkflow), `switch` with `condition`
and `next`, `try` with `retry` (a predicate subworkflow or `${http.default_retry}`, with exponential backoff) and
`except`, `raise`, `return` and `next`. Every `${...}` must be a whole value, and every variable and function must
exist: a misspelt name fails here as it would in an execution. Standard-library functions behave as the reference
describes them: `time.format` returns ISO 8601 in UTC ("2024-01-10T16:15:54.615087Z", docs/cloud-facts.md),
`map.get` returns null for a missing key or for a value that is not a map, and looks up nested maps along a list of
keys (https://cloud.google.com/workflows/docs/reference/stdlib/map/get), and `http.default_retry` retries 429, 502,
503, 504 and connection errors up to 5 times (from the reference as remembered, not re-read: the export workflows use
it only to poll). An HTTP error is a map with `code`, `message`, `tags`, `headers` and the parsed `body`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

Call = Callable[[dict[str, Any]], Any]


class WorkflowError(Exception):
    """An exception raised in a workflow: its payload is the map an `except` block sees."""

    def __init__(self, payload: Any) -> None:
        super().__init__(payload)
        self.payload = payload


def http_error(code: int, message: str = "") -> WorkflowError:
    return WorkflowError({"code": code, "message": message, "tags": ["HttpError"], "body": {}, "headers": {}})


def google_api_error(code: int, status: str, message: str) -> WorkflowError:
    """An HTTP error whose body is a Google API error (https://cloud.google.com/apis/design/errors)."""
    body = {"error": {"code": code, "message": message, "status": status}}
    message = f"HTTP server responded with error code {code}"
    return WorkflowError({"code": code, "message": message, "tags": ["HttpError"], "body": body, "headers": {}})


def operation_error(message: str) -> WorkflowError:
    return WorkflowError({"message": message, "tags": ["OperationError"], "operation": {"error": message}})


class _Map(dict[str, Any]):
    """A workflow map: fields read as attributes, a missing one is a KeyError (as in Workflows)."""

    def __getattr__(self, key: str) -> Any:
        return _wrap(self[key])


def _wrap(value: Any) -> Any:
    if isinstance(value, dict):
        return _Map(value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _map_get(value: Any, keys: str | list[str]) -> Any:
    """map.get: null for a missing key or a value that is not a map; a list of keys is a nested lookup."""
    for key in [keys] if isinstance(keys, str) else keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _default_retry_predicate(e: dict[str, Any]) -> bool:
    tags = set(e.get("tags") or [])
    return e.get("code") in (429, 502, 503, 504) or bool(tags & {"ConnectionError", "TimeoutError"})


class Engine:
    """One definition, the fake calls it may make, and a clock in seconds since the epoch that sleeps advance."""

    def __init__(self, definition: dict[str, Any], calls: dict[str, Call], *, now: float) -> None:
        self.definition = definition
        self.calls = calls
        self.now = now
        self.log: list[tuple[str, dict[str, Any]]] = []

    def run(self) -> Any:
        return self._workflow("main", {})

    # Expressions -----------------------------------------------------------------------------------------------

    def _format(self, seconds: float, zone: str = "UTC") -> str:
        assert zone == "UTC"
        moment = datetime.fromtimestamp(seconds, UTC)
        fraction = f".{moment.microsecond:06d}" if moment.microsecond else ""
        return moment.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"

    def _namespace(self, variables: dict[str, Any]) -> dict[str, Any]:
        library = {
            "text": SimpleNamespace(
                replace_all=lambda source, substr, repl: source.replace(substr, repl),
                substring=lambda source, start, end: source[start:end],
            ),
            "time": SimpleNamespace(format=self._format),
            "sys": SimpleNamespace(now=lambda: self.now),
            "map": SimpleNamespace(get=_map_get),
            "list": SimpleNamespace(concat=lambda items, value: [*items, _plain(value)]),
            "http": SimpleNamespace(
                default_retry={
                    "predicate": _default_retry_predicate,
                    "max_retries": 5,
                    "backoff": {"initial_delay": 1, "max_delay": 60, "multiplier": 1.25},
                }
            ),
            "len": len,
            "true": True,
            "false": False,
            "null": None,
        }
        subworkflows = {name: name for name in self.definition if name != "main"}
        return {"__builtins__": {}, **library, **subworkflows, **{k: _wrap(v) for k, v in variables.items()}}

    def _evaluate(self, value: Any, variables: dict[str, Any]) -> Any:
        if isinstance(value, dict):
            return {k: self._evaluate(v, variables) for k, v in value.items()}
        if isinstance(value, list):
            return [self._evaluate(v, variables) for v in value]
        if not isinstance(value, str) or "${" not in value:
            return value
        if not (value.startswith("${") and value.endswith("}")):
            raise SyntaxError(f"an expression must be a whole value: {value!r}")
        return _plain(eval(value[2:-1], self._namespace(variables)))

    # Steps -----------------------------------------------------------------------------------------------------

    def _workflow(self, name: str, params: dict[str, Any]) -> Any:
        workflow = self.definition[name]
        variables = {p: params[p] for p in workflow.get("params", [])}
        outcome = self._steps(workflow["steps"], variables)
        if outcome is not None and outcome[0] == "next" and outcome[1] != "end":
            raise SyntaxError(f"no step named {outcome[1]!r}")
        return outcome[1] if outcome is not None and outcome[0] == "return" else None

    def _steps(self, steps: list[dict[str, Any]], variables: dict[str, Any]) -> tuple[str, Any] | None:
        names = [next(iter(step)) for step in steps]
        i = 0
        while i < len(steps):
            outcome = self._step(steps[i][names[i]], variables)
            if outcome is None:
                i += 1
            elif outcome[0] == "next" and outcome[1] in names:
                i = names.index(outcome[1])
            else:
                return outcome
        return None

    def _step(self, step: dict[str, Any], variables: dict[str, Any]) -> tuple[str, Any] | None:
        if "try" in step:
            return self._try(step, variables)
        if "assign" in step:
            for item in step["assign"]:
                ((key, value),) = item.items()
                variables[key] = self._evaluate(value, variables)
        elif "call" in step:
            self._call(step, variables)
        elif "switch" in step:
            for case in step["switch"]:
                if self._evaluate(case["condition"], variables) is True:
                    return ("next", case["next"])
        elif "raise" in step:
            raise WorkflowError(self._evaluate(step["raise"], variables))
        elif "return" in step:
            return ("return", self._evaluate(step["return"], variables))
        elif "steps" in step:
            return self._steps(step["steps"], variables)
        elif "next" not in step:
            raise SyntaxError(f"unknown step {sorted(step)}")
        return ("next", step["next"]) if "next" in step else None

    def _call(self, step: dict[str, Any], variables: dict[str, Any]) -> None:
        name = step["call"]
        args = self._evaluate(step.get("args", {}), variables)
        self.log.append((name, args))
        if name in self.definition:
            result = self._workflow(name, args)
        elif name == "sys.sleep":
            self.now += args["seconds"]
            result = None
        else:
            result = self.calls[name](args)
        if "result" in step:
            variables[step["result"]] = result

    def _try(self, step: dict[str, Any], variables: dict[str, Any]) -> tuple[str, Any] | None:
        policy = self._evaluate(step["retry"], variables) if "retry" in step else None
        attempts = 0
        delay = policy["backoff"]["initial_delay"] if policy else 0
        while True:
            try:
                body = step["try"]
                return self._steps(body["steps"], variables) if "steps" in body else self._step(body, variables)
            except WorkflowError as err:
                if policy is not None and attempts < policy["max_retries"] and self._retryable(policy, err.payload):
                    attempts += 1
                    self.now += delay
                    delay = min(delay * policy["backoff"]["multiplier"], policy["backoff"]["max_delay"])
                    continue
                if "except" not in step:
                    raise
                variables[step["except"]["as"]] = err.payload
                return self._steps(step["except"]["steps"], variables)

    def _retryable(self, policy: dict[str, Any], error: Any) -> bool:
        predicate = policy["predicate"]
        if callable(predicate):
            return bool(predicate(error))
        return self._workflow(predicate, {"e": error}) is True
