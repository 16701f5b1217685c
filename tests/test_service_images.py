"""What the example images promise, read from their Dockerfiles (no Docker engine runs here): pinned bases, a minimal
non-root runtime, an entrypoint that is the program the build stage produces, a build context holding exactly what
the build copies; and that every stack builds each service from the example of its role and runs migrations with a
command its image really has."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path, PurePosixPath

import pytest

from components.images import _dockerignore, _ignored
from tests.conftest import config_of
from tests.services import (
    EXAMPLES,
    ROOT,
    Example,
    Stage,
    cargo_package,
    go_tool,
    stage_named,
    stages,
)

# Cloud Run runs the image's program with the base's libraries: static binaries need nothing (distroless static), the
# Rust binary links glibc and libgcc (distroless cc), the Python server needs CPython 3.11 (distroless python3).
RUNTIME_BASES = {
    "services/gateway": "gcr.io/distroless/static-debian12:nonroot@sha256:",
    "services/backend": "gcr.io/distroless/cc-debian12:nonroot@sha256:",
    "services/analytics": "gcr.io/distroless/python3-debian12:nonroot",
}
# The seeds' roles: a Go gateway, one Rust backend image for auth, platform and commerce (`orders`), Python analytics.
ROLE_CONTEXTS = {
    "api": "services/gateway",
    "auth": "services/backend",
    "platform": "services/backend",
    "orders": "services/backend",
    "analytics": "services/analytics",
}
# The name a release of each example image has in a stack's repository (`name@sha256:...`).
RELEASED_AS = {"services/gateway": "gateway", "services/backend": "backend", "services/analytics": "analytics"}


@pytest.fixture(params=sorted(EXAMPLES))
def example(request: pytest.FixtureRequest) -> Example:
    return EXAMPLES[str(request.param)]


def trace(all_stages: list[Stage], stage: Stage, path: str) -> tuple[str, Stage, str]:
    """Where a file of `stage` comes from: ("context", stage, path in the context) when a COPY brings it from the build
    context, or ("built", stage, path) for the stage whose own RUN instructions must have made it."""
    copy = stage.installs(path)
    if copy is None:
        return "built", stage, path
    for dest, source in copy.installs().items():
        dest = dest.rstrip("/")
        if path == dest or path.startswith(dest + "/"):
            source_path = source.rstrip("/") + path[len(dest) :]
            if copy.from_stage is None:
                return "context", stage, str(PurePosixPath(source_path))
            return trace(all_stages, stage_named(all_stages, copy.from_stage), source_path)
    raise AssertionError(f"{copy} does not install {path}")


def test_every_base_is_pinned_and_the_build_tools_stay_out_of_the_runtime_image(example: Example) -> None:
    all_stages = stages(example.dockerfile)
    assert len(all_stages) >= 2, "multi-stage: the toolchain stays out of the runtime image"
    for stage in all_stages:
        if stage.base == "scratch":
            continue
        name = stage.base.split("@")[0]
        assert ":" in name.rsplit("/", 1)[-1], f"{stage.base} names no tag"
        assert not name.endswith(":latest"), stage.base
        assert re.search(r":\d+\.\d+\.\d+", name) or "@sha256:" in stage.base or "distroless" in name, (
            f"{stage.base}: a toolchain image is pinned to an exact release"
        )


def test_the_runtime_stage_is_distroless_and_runs_as_non_root(example: Example) -> None:
    runtime = stages(example.dockerfile)[-1]
    assert runtime.base.startswith(RUNTIME_BASES[example.context]), runtime.base
    assert not runtime.all("RUN"), "the runtime base has no shell to run anything with"
    user = runtime.last("USER")
    assert user is not None, "the runtime stage sets its user"
    uid = user.split(":")[0]
    assert uid.isdigit(), "a numeric uid: platforms that enforce non-root cannot check a name"
    assert int(uid) != 0


def test_the_gateway_entrypoint_is_the_binary_go_build_writes() -> None:
    all_stages = stages(EXAMPLES["services/gateway"].dockerfile)
    entrypoint = all_stages[-1].entrypoint
    assert entrypoint == list(EXAMPLES["services/gateway"].entrypoint)
    kind, stage, path = trace(all_stages, all_stages[-1], entrypoint[0])
    assert kind == "built"
    assert any(re.search(rf"\bgo build\b.* -o {re.escape(path)}( |$)", run) for run in stage.all("RUN")), (
        f"no `go build -o {path}` in stage {stage.name}"
    )
    assert re.search(r"\bCGO_ENABLED=0\b", " ".join(stage.all("ENV"))), "static: distroless static has no libc"


def test_the_backend_entrypoint_is_the_binary_cargo_builds() -> None:
    example = EXAMPLES["services/backend"]
    all_stages = stages(example.dockerfile)
    entrypoint = all_stages[-1].entrypoint
    assert entrypoint == list(example.entrypoint)
    kind, stage, path = trace(all_stages, all_stages[-1], entrypoint[0])
    assert kind == "built"
    assert any(re.search(r"\bcargo build --release --locked\b", run) for run in stage.all("RUN"))
    package = cargo_package(ROOT / example.context / "Cargo.toml")
    assert path == f"{stage.workdir}/target/release/{package}"
    assert example.local()[0].endswith(f"/release/{package}"), "the local build names its binary the same way"
    for source in ("Cargo.toml", "Cargo.lock", "src/main.rs"):
        assert trace(all_stages, stage, f"{stage.workdir}/{source}") == ("context", stage, source)


def test_the_analytics_entrypoint_runs_the_server_copied_from_the_context() -> None:
    all_stages = stages(EXAMPLES["services/analytics"].dockerfile)
    entrypoint = all_stages[-1].entrypoint
    assert entrypoint == list(EXAMPLES["services/analytics"].entrypoint)
    assert all_stages[-1].installs(entrypoint[0]) is None, "the interpreter is the distroless base's own"
    kind, _, path = trace(all_stages, all_stages[-1], entrypoint[1])
    assert (kind, path) == ("context", "server.py")


def test_the_build_context_holds_exactly_what_the_dockerfile_copies(example: Example) -> None:
    """Docker sends the context minus .dockerignore; a file the build copies must be in it (or the build fails), and a
    file it does not copy must not (it would change the content hash that tags the image, and rebuild for nothing)."""
    context = ROOT / example.context
    patterns = _dockerignore(context)
    sent = {
        p.relative_to(context).as_posix()
        for p in context.rglob("*")
        if p.is_file() and not _ignored(p.relative_to(context).as_posix(), patterns)
    }
    copied = {
        str(PurePosixPath(source))
        for stage in stages(example.dockerfile)
        for copy in stage.copies
        if copy.from_stage is None
        for source in copy.sources
    }
    assert copied, "the build copies something from its context"
    for source in copied:
        assert any(f == source or f.startswith(source + "/") for f in sent), f"{source} is copied but not sent"
    stray = {f for f in sent if not any(f == s or f.startswith(s + "/") for s in copied)}
    assert stray == set(), "sent to the build but never copied: add them to .dockerignore"


def test_the_gateway_image_builds_with_the_go_release_the_tests_build_with() -> None:
    build = stages(EXAMPLES["services/gateway"].dockerfile)[0]
    version = subprocess.run(
        [go_tool(), "env", "GOVERSION"],
        env={**os.environ, "GOTOOLCHAIN": "local"},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    assert build.base.split("@")[0] == f"golang:{version.removeprefix('go')}"
    go_mod = (ROOT / "services/gateway/go.mod").read_text()
    assert "require" not in go_mod, "standard library only: nothing to download"


# --- The stacks -----------------------------------------------------------------------------------------------------


def test_every_stack_runs_each_service_from_the_example_of_its_role(stack: str) -> None:
    """Built here (dev) from the role's example, or (staging, prod) the release of that example, by digest."""
    services = config_of(stack).services
    assert sorted(services) == sorted(ROLE_CONTEXTS)
    for key, service in services.items():
        if service.build is not None:
            assert service.build.context == ROLE_CONTEXTS[key], key
        else:
            assert service.image is not None
            name = service.image.split("@")[0].rsplit("/", 1)[-1]
            assert name == RELEASED_AS[ROLE_CONTEXTS[key]], key


def test_every_migrations_command_is_a_program_its_image_installs_and_it_exits_zero(stack: str) -> None:
    """The migrations job runs `command` + `args` in the service's image, replacing its entrypoint
    (https://cloud.google.com/run/docs/configuring/jobs/containers); a command the image lacks fails the deploy."""
    owners = {key: s for key, s in config_of(stack).services.items() if s.migrations is not None}
    if not owners:
        pytest.skip(f"no service in {stack} runs migrations")
    unverifiable = []
    for key, service in owners.items():
        assert service.migrations is not None
        if service.build is None:
            # An `image:` reference is a registry image: its filesystem cannot be read offline.
            unverifiable.append(f"{key} runs migrations in image {service.image}, which cannot be inspected offline")
            continue
        example = EXAMPLES[service.build.context]
        argv = [*service.migrations.command, *service.migrations.args]
        program = argv[0]
        assert program.startswith("/"), f"services.{key}.migrations.command: {program} is not an absolute path"
        runtime = stages(ROOT / service.build.context / "Dockerfile")[-1]
        assert runtime.installs(program) is not None, (
            f"services.{key}.migrations.command: {program} is not installed by {service.build.context}/Dockerfile"
        )
        result = subprocess.run(
            example.local_argv(argv),
            env={"PATH": "/usr/bin:/bin", "DB_NAME": "app", "K_SERVICE": f"acme-{stack}-migrate"},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 0, f"{argv} exited {result.returncode}: {result.stdout}{result.stderr}"
        assert "migrat" in result.stdout
    if unverifiable:
        pytest.skip("; ".join(unverifiable))


def test_a_migrations_command_the_image_lacks_is_caught() -> None:
    """The check above fails for the command the stacks used to give (`/app/migrate`): the backend image has none."""
    runtime = stages(Path(EXAMPLES["services/backend"].dockerfile))[-1]
    assert runtime.installs("/app/migrate") is None
    assert runtime.installs("/app/backend") is not None
