"""The Rust backend example is one image for the auth, platform and commerce roles, and carries the migrations job's
entry point: `/app/backend migrate` exits 0 when there is nothing to apply and non-zero when it cannot run."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.services import EXAMPLES, get, running

BACKEND = EXAMPLES["services/backend"]


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*BACKEND.local(), *args], env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True, timeout=30
    )


@pytest.mark.parametrize(
    ("env", "role"),
    [
        ({"SERVICE_ROLE": "auth", "K_SERVICE": "acme-prod-auth"}, "auth"),
        ({"K_SERVICE": "acme-prod-commerce"}, "acme-prod-commerce"),
        ({}, "backend"),
    ],
)
def test_the_backend_takes_its_role_from_service_role_else_the_service_name(env: dict[str, str], role: str) -> None:
    with running(BACKEND.local(), **env) as server:
        status, body = get(f"{server.url}/")
    assert status == 200
    assert body["role"] == role


def test_migrate_reports_what_it_applies_and_exits_zero() -> None:
    result = run("migrate", DB_NAME="app", SERVICE_ROLE="commerce")
    assert result.returncode == 0, result.stderr
    messages = [json.loads(line)["message"] for line in result.stdout.splitlines()]
    assert messages == ["migrate commerce: 0 migrations to apply to app", "no schema: nothing to migrate"]


@pytest.mark.parametrize("args", [("migrate", "up"), ("migrations",), ("--help",)])
def test_an_unknown_command_exits_non_zero_so_a_misconfigured_job_fails(args: tuple[str, ...]) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert "usage: backend [serve | migrate]" in result.stderr
