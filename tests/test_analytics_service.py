"""The analytics example takes Pub/Sub push deliveries on `POST /events`: a delivery that parses is acknowledged with
204, a malformed one is refused with 400, which Pub/Sub retries and finally dead-letters. Its health, SIGTERM and
image checks are in test_example_services.py and test_service_images.py."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.services import EXAMPLES, ROOT, Server, call, running

SERVER = ROOT / "services/analytics/server.py"
# Acknowledged by Pub/Sub (https://cloud.google.com/pubsub/docs/push); any other status is redelivered.
ACK = {102, 200, 201, 202, 204}


def delivery(**message: object) -> dict[str, object]:
    """A push request body in the wrapped format, as Pub/Sub sends it."""
    return {
        "message": {
            "data": base64.b64encode(b'{"order": 42, "event": "paid"}').decode(),
            "messageId": "2070443601311540",
            "message_id": "2070443601311540",
            "attributes": {"source": "orders"},
            "publishTime": "2026-11-30T08:00:00.123Z",
            "publish_time": "2026-11-30T08:00:00.123Z",
            **message,
        },
        "subscription": "projects/acme-platform-dev/subscriptions/analytics-events",
    }


@pytest.fixture(scope="module")
def analytics() -> Iterator[Server]:
    with running(EXAMPLES["services/analytics"].local(), K_SERVICE="acme-dev-analytics") as server:
        yield server


def post(server: Server, body: bytes, path: str = "/events") -> int:
    status, _ = call("POST", f"{server.url}{path}", body, {"Content-Type": "application/json"})
    return status


def test_a_push_delivery_that_parses_is_acknowledged_with_204(analytics: Server) -> None:
    assert post(analytics, json.dumps(delivery()).encode()) == 204
    attributes_only = delivery(data="", attributes={"kind": "ping"})
    assert post(analytics, json.dumps(attributes_only).encode()) == 204


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        json.dumps({"subscription": "projects/p/subscriptions/s"}).encode(),
        json.dumps({**delivery(), "subscription": None}).encode(),
        json.dumps(delivery(data="not base64!")).encode(),
        json.dumps(delivery(data=42)).encode(),
        json.dumps(delivery(messageId=None, message_id=None)).encode(),
        json.dumps(delivery(attributes={"n": 1})).encode(),
        json.dumps(delivery(data="", attributes={})).encode(),
    ],
    ids=[
        "not-json",
        "not-utf8",
        "not-an-object",
        "no-message",
        "no-subscription",
        "data-not-base64",
        "data-not-a-string",
        "no-message-id",
        "attribute-not-a-string",
        "empty-message",
    ],
)
def test_a_malformed_delivery_is_refused_so_pubsub_retries_and_dead_letters_it(analytics: Server, body: bytes) -> None:
    status = post(analytics, body)
    assert status == 400
    assert status not in ACK


def test_events_only_take_posts_and_other_posts_are_404(analytics: Server) -> None:
    assert call("GET", f"{analytics.url}/events")[0] == 404
    assert post(analytics, json.dumps(delivery()).encode(), path="/other") == 404


def test_a_delivery_is_logged_by_id_without_its_payload() -> None:
    with running(EXAMPLES["services/analytics"].local()) as server:
        assert post(server, json.dumps(delivery()).encode()) == 204
        assert server.stop() == 0
        log = server.log()
    (entry,) = [line for line in log if line.get("messageId") == "2070443601311540"]
    assert entry["subscription"] == "projects/acme-platform-dev/subscriptions/analytics-events"
    assert entry["bytes"] == len(b'{"order": 42, "event": "paid"}')
    encoded = str(delivery()["message"]["data"])  # type: ignore[index]
    assert not any("paid" in json.dumps(line) or encoded in json.dumps(line) for line in log), "payloads stay out"


def test_analytics_migrate_entrypoint_exits_zero() -> None:
    result = subprocess.run(
        [sys.executable, str(SERVER), "migrate"], capture_output=True, text=True, timeout=10, check=False
    )
    assert result.returncode == 0
    assert json.loads(result.stdout)["message"] == "no schema: nothing to migrate"
