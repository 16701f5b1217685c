"""The example analytics service: a dependency-free HTTP server that answers `/health` (and `/healthz`; Cloud Run
reserves some paths ending in z at a service's URL, so probes and checks use `/health`) and `/`, and takes Pub/Sub
push deliveries on `POST /events`, listening on $PORT.

Pub/Sub acknowledges a push delivery when the endpoint answers 102, 200, 201, 202 or 204, and redelivers it on any
other status (until the subscription's retention or its dead-letter policy ends it). So a body that parses is
answered 204, and a malformed one 400: it is retried and, with a dead-letter topic, set aside for a person to read.
Deliveries are at least once: a real consumer makes its writes idempotent on `messageId`.

Cloud Run sends SIGTERM before stopping an instance; the server stops accepting, finishes in-flight requests and
exits, so a scale-in or a new revision never cuts a request short.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import signal
import sys
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType

# Pub/Sub messages are at most 10 MB; base64 and the JSON envelope add a third.
MAX_PUSH_BYTES = 14 * 1024 * 1024


@dataclass(frozen=True)
class PushMessage:
    """One Pub/Sub push delivery (the wrapped format)."""

    message_id: str
    subscription: str
    data: bytes
    attributes: dict[str, str]
    publish_time: str | None


def parse_push(body: bytes) -> PushMessage:
    """The delivery in a push request's body; ValueError says what is malformed."""
    try:
        envelope = json.loads(body)
    except ValueError as err:  # also undecodable bytes
        raise ValueError(f"body is not JSON: {err}") from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("message"), dict):
        raise ValueError("body has no message object")
    message = envelope["message"]
    subscription = envelope.get("subscription")
    if not isinstance(subscription, str) or not subscription:
        raise ValueError("body has no subscription")
    message_id = message.get("messageId", message.get("message_id"))
    if not isinstance(message_id, str) or not message_id:
        raise ValueError("message has no messageId")
    attributes = message.get("attributes", {})
    if not isinstance(attributes, dict) or not all(isinstance(v, str) for v in attributes.values()):
        raise ValueError("message attributes are not a map of strings")
    encoded = message.get("data", "")
    if not isinstance(encoded, str):
        raise ValueError("message data is not a base64 string")
    try:
        data = base64.b64decode(encoded, validate=True)
    except binascii.Error as err:
        raise ValueError(f"message data is not base64: {err}") from None
    if not data and not attributes:
        raise ValueError("message has neither data nor attributes")
    publish_time = message.get("publishTime", message.get("publish_time"))
    if not isinstance(publish_time, str):
        publish_time = None
    return PushMessage(message_id, subscription, data, attributes, publish_time)


class Handler(BaseHTTPRequestHandler):
    server_version = "analytics"
    sys_version = ""

    def do_GET(self) -> None:
        if self.path in ("/health", "/healthz"):
            self._reply(200, {"status": "ok"})
        elif self.path == "/":
            self._reply(
                200, {"service": os.environ.get("K_SERVICE", "analytics"), "revision": os.environ.get("K_REVISION")}
            )
        else:
            self._reply(404, {"error": "not found"})

    def do_POST(self) -> None:
        if self.path != "/events":
            self._reply(404, {"error": "not found"})
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._reply(411, {"error": "a push delivery carries a Content-Length"})
            return
        if not 0 <= length <= MAX_PUSH_BYTES:
            self._reply(413, {"error": f"a push delivery is at most {MAX_PUSH_BYTES} bytes"})
            return
        try:
            event = parse_push(self.rfile.read(length))
        except ValueError as err:
            log("WARNING", f"malformed push delivery: {err}")
            self._reply(400, {"error": str(err)})
            return
        # The payload itself is not logged: it may hold personal data.
        log(
            "INFO",
            f"event {event.message_id} from {event.subscription}",
            messageId=event.message_id,
            subscription=event.subscription,
            attributes=event.attributes,
            bytes=len(event.data),
        )
        self.send_response(204)
        self.end_headers()

    def _reply(self, status: int, body: dict[str, object]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        log("INFO", format % args)


def log(severity: str, message: str, **fields: object) -> None:
    # One JSON line per event on stdout: Cloud Logging parses it into a structured entry.
    print(json.dumps({"severity": severity, "message": message, **fields}), flush=True)


def migrate() -> None:
    """The migrations job's entrypoint. This example has no schema, so there is nothing to apply; a real service runs
    its migration tool here (alembic upgrade head, ...) and exits non-zero on failure so the deploy stops."""
    log("INFO", "no schema: nothing to migrate")


def serve() -> None:
    port = int(os.environ.get("PORT", "8080"))
    server = ThreadingHTTPServer(("", port), Handler)
    server.daemon_threads = False  # wait for in-flight requests on shutdown

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log("INFO", f"listening on :{port}")
    server.serve_forever()
    server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    if sys.argv[1:] == ["migrate"]:
        migrate()
    else:
        serve()
