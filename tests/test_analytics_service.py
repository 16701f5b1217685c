"""The example service really runs: it answers its health check on $PORT, stops cleanly on SIGTERM, and its image is
built the way the platform requires (pinned bases, non-root, nothing but the app in the runtime stage)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ANALYTICS = Path(__file__).resolve().parent.parent / "services" / "analytics"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.fixture
def server() -> Iterator[tuple[subprocess.Popen[str], str]]:
    port = free_port()
    env = {**os.environ, "PORT": str(port), "K_SERVICE": "analytics-test"}
    command = [sys.executable, str(ANALYTICS / "server.py")]
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as process:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        try:
            yield process, f"http://127.0.0.1:{port}"
        finally:
            if process.poll() is None:
                process.kill()


def test_analytics_answers_its_health_check_on_port(server: tuple[subprocess.Popen[str], str]) -> None:
    _, base = server
    assert get(f"{base}/healthz") == (200, {"status": "ok"})
    status, body = get(f"{base}/")
    assert status == 200
    assert body["service"] == "analytics-test"
    assert get(f"{base}/missing")[0] == 404


def test_analytics_stops_cleanly_on_sigterm_and_logs_json(server: tuple[subprocess.Popen[str], str]) -> None:
    process, base = server
    get(f"{base}/healthz")
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=5) == 0
    assert process.stdout is not None
    lines = [json.loads(line) for line in process.stdout.read().splitlines()]
    assert all(line["severity"] == "INFO" for line in lines)
    assert any("GET /healthz" in str(line["message"]) for line in lines)


def test_analytics_migrate_entrypoint_exits_zero() -> None:
    result = subprocess.run(
        [sys.executable, str(ANALYTICS / "server.py"), "migrate"], capture_output=True, text=True, timeout=10, check=False
    )
    assert result.returncode == 0
    assert json.loads(result.stdout)["message"] == "no schema: nothing to migrate"


def test_the_dockerfile_pins_its_bases_and_runs_as_non_root() -> None:
    dockerfile = (ANALYTICS / "Dockerfile").read_text()
    bases = re.findall(r"^FROM\s+(\S+)", dockerfile, flags=re.MULTILINE)
    assert len(bases) >= 2, "multi-stage: build tools stay out of the runtime image"
    for base in bases:
        assert ":" in base or "@sha256:" in base, base
        assert not base.endswith(":latest"), base
    assert re.match(r"python:\d+\.\d+\.\d+-", bases[0]), "the build stage is pinned to an exact Python release"
    assert "distroless" in bases[-1]
    runtime = dockerfile.split("FROM ")[-1]
    user = re.findall(r"^USER\s+(\S+)", runtime, flags=re.MULTILINE)
    assert user, "the runtime stage sets a user"
    assert user[-1].split(":")[0] not in ("root", "0")
