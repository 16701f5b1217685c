"""A recording mock engine: runs the program (or one component) in-process and keeps what the engine would receive.

Everything a reviewer reads in a preview is kept per resource: type, logical name, parent, inputs (camelCase, as the
engine sees them), explicit and implicit dependencies, and options such as protect and ignore_changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import copy
import functools
import json
import runpy
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from google.protobuf import struct_pb2
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime.proto import resource_pb2, source_pb2
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from offline.mocks import PlatformMocks

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "platform"
SECRET_PLACEHOLDER = "offline-secret-value"
SECRET_MASK = "[secret]"  # what the recording keeps of a value that reached the engine as a Pulumi secret
UNKNOWN_MARK = "[unknown]"  # a value the engine would only know once a resource it comes from exists
# The wire format's envelopes: a dict with the signature key says what it wraps (pulumi.runtime.rpc).
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


@dataclass(frozen=True)
class Resource:
    urn: str
    type: str
    name: str
    parent: str | None
    custom: bool
    inputs: dict[str, Any]  # secrets masked: what a preview shows and the plan prints
    revealed_inputs: dict[str, Any]  # secrets inside their envelope: for tests only, never printed or written
    outputs: dict[str, Any]
    dependencies: tuple[str, ...]
    protect: bool
    ignore_changes: tuple[str, ...]
    aliases: tuple[str, ...]
    delete_before_replace: bool
    retain_on_delete: bool
    replace_on_changes: tuple[str, ...] = ()  # input paths whose change makes Pulumi replace the resource

    def to_json(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "custom": self.custom,
            "inputs": self.inputs,
            "dependencies": list(self.dependencies),
            "options": {
                "protect": self.protect,
                "ignoreChanges": list(self.ignore_changes),
                "aliases": list(self.aliases),
                "deleteBeforeReplace": self.delete_before_replace,
                "retainOnDelete": self.retain_on_delete,
                "replaceOnChanges": list(self.replace_on_changes),
            },
        }


@dataclass
class Recording:
    """What one run registered, ordered by URN, with the stack outputs once the run has finished."""

    resources: list[Resource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)

    def of(self, type_: str, **inputs: Any) -> list[Resource]:
        """Resources of a type whose inputs contain every given key with the given value."""
        return [r for r in self.resources if r.type == type_ and all(r.inputs.get(k) == v for k, v in inputs.items())]

    def one(self, type_: str, **inputs: Any) -> Resource:
        found = self.of(type_, **inputs)
        if len(found) != 1:
            raise AssertionError(f"expected one {type_} with {inputs}, found {len(found)}: {[r.name for r in found]}")
        return found[0]

    def named(self, name: str) -> Resource:
        for r in self.resources:
            if r.name == name:
                return r
        raise KeyError(name)

    def by_urn(self, urn: str) -> Resource:
        for r in self.resources:
            if r.urn == urn:
                return r
        raise KeyError(urn)

    def children(self, parent: Resource) -> list[Resource]:
        return [r for r in self.resources if r.parent == parent.urn]

    def depends_on(self, resource: Resource, other: Resource) -> bool:
        """Whether `resource` waits for `other`, directly or through any chain of dependencies."""
        seen: set[str] = set()
        stack = list(resource.dependencies)
        while stack:
            urn = stack.pop()
            if urn == other.urn:
                return True
            if urn in seen:
                continue
            seen.add(urn)
            stack.extend(self.by_urn(urn).dependencies)
        return False

    def walk(self) -> Iterator[tuple[int, Resource]]:
        """Depth-first over the component tree, with the depth of each resource."""
        by_parent: dict[str | None, list[Resource]] = {}
        known = {r.urn for r in self.resources}
        for r in self.resources:
            by_parent.setdefault(r.parent if r.parent in known else None, []).append(r)

        def visit(parent: str | None, depth: int) -> Iterator[tuple[int, Resource]]:
            # Registration order varies from run to run (the SDK registers asynchronously): sort for stable output.
            for r in sorted(by_parent.get(parent, []), key=lambda r: (r.custom, r.name)):
                yield depth, r
                yield from visit(r.urn, depth + 1)

        yield from visit(None, 0)


class _RecordingMonitor(pulumi_mocks.MockMonitor):  # type: ignore[misc]
    """The SDK's mock monitor, with one pass over each registration's wire inputs instead of three.

    The SDK's own deserializer lifts a nested secret to the enclosing list or object (one secret binding would hide a
    Worker's whole `bindings` list). The wire format, like the engine's state and a preview, marks each secret where it
    is: so does the recording.
    """

    def __init__(self, mocks: pulumi_mocks.Mocks, recording: Recording) -> None:
        super().__init__(mocks)
        self.recording = recording

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == "pulumi:pulumi:Stack":
            return resource_pb2.RegisterResourceResponse(urn=urn)
        wire = _from_wire(request.object)
        args = pulumi_mocks.MockResourceArgs(
            typ=request.type,
            name=request.name,
            inputs=wire,
            provider=request.provider,
            resource_id=request.importId,
            custom=request.custom or False,
        )
        id_, state = self.mocks.new_resource(args)
        id_ = id_ or ""
        self.resources[urn] = pulumi_mocks.MockMonitor.ResourceRegistration(urn, id_, state)
        self.recording.resources.append(
            Resource(
                urn=urn,
                type=request.type,
                name=request.name,
                parent=request.parent or None,
                custom=bool(request.custom),
                inputs=_plain(wire),
                revealed_inputs=_plain(wire, reveal=True),
                outputs=_plain(state),
                dependencies=tuple(sorted(set(request.dependencies))),
                protect=bool(request.protect),
                ignore_changes=tuple(request.ignoreChanges),
                aliases=tuple(self._alias_urn(request, alias) for alias in request.aliases),
                delete_before_replace=bool(request.deleteBeforeReplace),
                retain_on_delete=bool(request.retainOnDelete),
                replace_on_changes=tuple(request.replaceOnChanges),
            )
        )
        return resource_pb2.RegisterResourceResponse(urn=urn, id=id_, object=_to_wire(state))

    def _alias_urn(self, request: Any, alias: Any) -> str:
        """The URN an alias names: given whole, or a spec whose missing parts are the resource's own (same stack)."""
        if alias.urn:
            return str(alias.urn)
        spec = alias.spec
        parent = "" if spec.noParent else (spec.parentUrn or request.parent)
        return str(self.make_urn(parent, spec.type or request.type, spec.name or request.name))


def _from_wire(value: Any) -> Any:
    """A protobuf Struct, list or scalar as plain Python, envelopes (secrets, resource references) kept where they are.

    Like the SDK's deserializer, a property whose value is null is left out; unlike it, nothing is lifted.
    """
    if isinstance(value, struct_pb2.Struct):
        return {k: v for k, v in ((k, _from_wire(v)) for k, v in value.items()) if v is not None}
    if isinstance(value, struct_pb2.ListValue):
        return [_from_wire(v) for v in value]
    return value


def _to_wire(state: dict[str, Any]) -> struct_pb2.Struct:
    """The mock's state as the engine answers it: plain data goes straight into a Struct (secret envelopes are plain
    dicts); anything else (an SDK object a mock returned) through the SDK's serializer."""
    struct = struct_pb2.Struct()
    try:
        struct.update(state)
    except (TypeError, ValueError):
        struct = _sync_await(pulumi.runtime.rpc.serialize_properties(state, {}))
    return struct


def _plain(value: Any, *, reveal: bool = False) -> Any:
    """Wire inputs or Python values as JSON-friendly data: resource references become their name, unknowns a marker,
    secrets a mask (or, with `reveal`, the engine's secret envelope around the value, for tests that check what a
    secret carries)."""
    if isinstance(value, dict):
        sig = value.get(SIG_KEY)
        if sig == SECRET_SIG:
            return {SIG_KEY: SECRET_SIG, "value": _plain(value.get("value"), reveal=True)} if reveal else SECRET_MASK
        if sig == RESOURCE_SIG:
            return {"$ref": str(value.get("urn", "")).rsplit("::", 1)[-1]}
        return {k: _plain(v, reveal=reveal) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, reveal=reveal) for v in value]
    if isinstance(value, pulumi.Resource):
        return {"$ref": str(getattr(value, "_name", ""))}
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the wire format has only doubles; ports and priorities read better as integers
    if value == UNKNOWN or isinstance(value, pulumi.output.Unknown):
        return UNKNOWN_MARK
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def stack_config(stack: str, *, stand_ins: bool = True) -> tuple[dict[str, str], list[str]]:
    """The stack file's config as the engine hands it to the program: JSON strings, secret values masked.

    The stack files commit no placeholder ciphertext (Pulumi decrypts every `secure:` value before the program runs, so
    one that no key decrypts breaks every preview): the secrets the program reads (`stack_config.SECRET_KEYS`, and the
    value of each app secret the stack creates) are set per stack with `pulumi config set --secret`. Offline there is
    no key and no secret, so each one the file does not hold gets a stand-in, marked secret like a real one;
    `stand_ins=False` gives the config exactly as the file has it.
    """
    path = ROOT / f"Pulumi.{stack}.yaml"
    if not path.exists():
        stacks = sorted(p.name.split(".")[1] for p in ROOT.glob("Pulumi.*.yaml"))
        raise pulumi.RunError(f"no stack file {path.name}; known stacks: {', '.join(stacks)}")
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in read_stack_file(path).items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            config[key] = SECRET_PLACEHOLDER
            secret_keys.append(key)
        else:
            config[key] = value if isinstance(value, str) else json.dumps(value)
    if stand_ins:
        import stack_config as program_config  # the program's module; imported late, it imports the components

        created = program_config.app_secret_value_keys(program_config.decode(config))
        for name in sorted(program_config.SECRET_KEYS | created):
            key = f"{program_config.NAMESPACE}:{name}"
            if key not in config:
                config[key] = SECRET_PLACEHOLDER
                secret_keys.append(key)
    return config, secret_keys


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A key repeated in one mapping."""


class _StackFileLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key repeated in one mapping is an error.

    PyYAML, like the Pulumi CLI (gopkg.in/yaml.v2 outside strict mode), keeps the last of two equal keys, so the first
    value is silently lost; in a stack file that is a setting someone believes is in force.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *anchor` merges keys that the mapping's own keys may override, as YAML intends
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                continue  # PyYAML's own construct_mapping reports it
            if key in seen:
                first = seen[key].line + 1
                raise DuplicateKeyError(
                    None, None, f"duplicate key {key!r} (first at line {first}); keep one", key_node.start_mark
                )
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def read_stack_file(path: Path) -> dict[str, Any]:
    """A stack file's `config:` keyed `<namespace>:<name>`, or one line naming the file, line and column at fault."""
    text = path.read_text()
    return copy.deepcopy(_parse_stack_file(path, text))  # callers may change what they get


@functools.lru_cache(maxsize=16)
def _parse_stack_file(path: Path, text: str) -> dict[str, Any]:
    """Parsed once per content: the plan reads its stack file for the program and again for the estimates."""
    try:
        document = yaml.load(text, Loader=_StackFileLoader)  # a SafeLoader
    except yaml.MarkedYAMLError as err:
        raise pulumi.RunError(_yaml_problem(path, err)) from None
    except yaml.YAMLError as err:  # not tied to a position
        raise pulumi.RunError(f"{path.name}: invalid YAML: {' '.join(str(err).split())}") from None
    config = document.get("config") if isinstance(document, dict) else None
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise pulumi.RunError(f"{path.name}: config must be a mapping of <namespace>:<name> keys")
    return {_config_key(path, str(key)): value for key, value in config.items()}


def _yaml_problem(path: Path, err: yaml.MarkedYAMLError) -> str:
    mark = err.problem_mark or err.context_mark
    where = f"{path.name}, line {mark.line + 1}, column {mark.column + 1}" if mark else path.name
    if isinstance(err, DuplicateKeyError):
        return f"{where}: {err.problem}"
    context = f" ({err.context} at line {err.context_mark.line + 1})" if err.context and err.context_mark else ""
    return f"{where}: invalid YAML: {err.problem}{context}"


def _config_key(path: Path, key: str) -> str:
    """`ns:name` as Pulumi parses it: `ns:config:name` is the old spelling of `ns:name`; anything else is refused."""
    parts = key.split(":")
    if len(parts) == 2 and all(parts):
        return key
    if len(parts) == 3 and parts[1] == "config" and parts[0] and parts[2]:
        return f"{parts[0]}:{parts[2]}"
    raise pulumi.RunError(
        f"{path.name}: config key '{key}' is not of the form <namespace>:<name> (Pulumi refuses it); "
        f"write it like platform:{parts[-1] or 'name'}"
    )


def run(
    fn: Callable[[], Any],
    *,
    stack: str = "dev",
    config: dict[str, str] | None = None,
    secret_keys: list[str] | None = None,
    project_id: str = "acme-platform-dev",
    region: str = "europe-west1",
    into: Recording | None = None,
) -> Recording:
    """Run `fn` (a program or a few components) on a fresh mock engine and event loop; return what it registered.

    Pass `into` to keep what was registered even when `fn` raises.
    """
    recording = into if into is not None else Recording()

    def body() -> None:
        asyncio.set_event_loop(asyncio.new_event_loop())
        mocks = PlatformMocks(project_id=project_id, region=region)
        pulumi.runtime.set_mocks(
            mocks, project=PROJECT, stack=stack, preview=False, monitor=_RecordingMonitor(mocks, recording)
        )
        pulumi.runtime.set_all_config(config or {}, secret_keys or [])
        try:
            _sync_await(run_pulumi_func(fn))
            _collect_outputs(recording)
        finally:
            asyncio.get_event_loop().close()

    # A fresh context per run: the SDK keeps its settings, root stack and config in context variables.
    try:
        with _without_source_positions():
            contextvars.Context().run(body)
    finally:
        # The SDK registers asynchronously, so registration order varies from run to run: keep them by URN.
        recording.resources.sort(key=lambda r: r.urn)
    return recording


@contextlib.contextmanager
def _without_source_positions() -> Iterator[None]:
    """The SDK walks the Python stack of every registration to tell the engine where in the program it came from;
    the mock engine never reads it, and the walk is a sixth of a stack's run."""
    sdk = pulumi.runtime.resource
    walk = getattr(sdk, "_get_stack_trace", None)
    if walk is None:  # an SDK without it: nothing to skip
        yield
        return
    sdk._get_stack_trace = source_pb2.StackTrace  # an empty trace: no source position
    try:
        yield
    finally:
        sdk._get_stack_trace = walk


def _collect_outputs(recording: Recording) -> None:
    root = pulumi.runtime.settings.get_root_resource()
    exported: dict[str, Any] = getattr(root, "outputs", {}) or {}
    for key, value in exported.items():
        output = pulumi.Output.from_input(value)
        recording.outputs[key] = _plain(_sync_await(output.future()))
        if _sync_await(output.is_secret()):
            recording.secret_outputs.add(key)


def run_program(
    stack: str,
    *,
    config: dict[str, str] | None = None,
    secret_keys: list[str] | None = None,
    into: Recording | None = None,
) -> Recording:
    """Run `__main__.py` for a stack as `pulumi up` would, against the mock engine (optionally with other config, and
    other keys marked secret)."""
    stack_values, stack_secret_keys = stack_config(stack)
    config = stack_values if config is None else config
    secret_keys = stack_secret_keys if secret_keys is None else secret_keys
    gcp = json.loads(config.get(f"{PROJECT}:gcp", "{}"))
    main = str(ROOT / "__main__.py")
    return run(
        lambda: runpy.run_path(main, run_name="__main__"),
        stack=stack,
        config=config,
        secret_keys=secret_keys,
        project_id=gcp.get("project", "unknown-project"),
        region=gcp.get("region", "unknown-region"),
        into=into,
    )
