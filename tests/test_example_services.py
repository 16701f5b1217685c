"""Each example image's program really runs: built with its real toolchain (Go, Rust, Python) and started here, it
answers its health check on $PORT, names its service and revision, answers 404 elsewhere, and stops cleanly on
SIGTERM, the way Cloud Run stops an instance."""

from __future__ import annotations

import json
import signal
import socket
import time

import pytest

from components.cloud_run import ServiceArgs
from tests.services import EXAMPLES, Example, accepts, get, running

CONTEXTS = sorted(EXAMPLES)
# The path the probes, the uptime checks and the smoke test call unless a service sets its own.
HEALTH = ServiceArgs.model_fields["health_path"].default


@pytest.fixture(params=CONTEXTS)
def example(request: pytest.FixtureRequest) -> Example:
    return EXAMPLES[str(request.param)]


def test_each_example_answers_health_root_and_404_on_its_port(example: Example) -> None:
    with running(example.local(), K_SERVICE="acme-dev-test", K_REVISION="acme-dev-test-00001-abc") as server:
        assert get(f"{server.url}{HEALTH}") == (200, {"status": "ok"})
        assert get(f"{server.url}/healthz") == (200, {"status": "ok"})  # what earlier configs probe
        status, body = get(f"{server.url}/")
        assert status == 200
        assert body["service"] == "acme-dev-test"
        assert body["revision"] == "acme-dev-test-00001-abc"
        status, body = get(f"{server.url}/missing")
        assert status == 404
        assert body == {"error": "not found"}


def test_each_example_exits_zero_on_sigterm_and_stops_accepting(example: Example) -> None:
    with running(example.local()) as server:
        assert get(f"{server.url}{HEALTH}")[0] == 200
        assert server.stop() == 0
        assert not accepts(server.port)
        log = server.log()
    assert log, "it logs"
    assert all(set(line) >= {"severity", "message"} for line in log), "every line is a structured JSON entry"


@pytest.mark.parametrize("context", ["services/backend", "services/analytics"])
def test_a_request_in_flight_at_sigterm_is_answered_before_exit(context: str) -> None:
    """The request's headers are half sent when SIGTERM arrives; the server must finish it, not drop it.

    The Go gateway is left out: http.Server.Shutdown waits for requests whose handler runs, but by design drops a
    connection whose request headers have not fully arrived, and its handlers answer at once, so there is no window
    to catch a request in."""
    with running(EXAMPLES[context].local()) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as client:
            client.sendall(f"GET {HEALTH} HTTP/1.1\r\nHost: test\r\n".encode())
            assert get(f"{server.url}{HEALTH}")[0] == 200  # the partial request has been accepted by now
            server.process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 5
            while accepts(server.port):  # shutting down: no new connections
                assert time.monotonic() < deadline, "still accepting connections 5 s after SIGTERM"
                time.sleep(0.05)
            client.sendall(b"\r\n")
            response = b""
            while chunk := client.recv(4096):
                response += chunk
        head, _, body = response.partition(b"\r\n\r\n")
        assert head.split(b" ")[1] == b"200", response
        assert json.loads(body) == {"status": "ok"}
        assert server.process.wait(timeout=10) == 0
