"""The example service: a dependency-free HTTP server that answers `/healthz` and `/`, listening on $PORT.

Cloud Run sends SIGTERM before stopping an instance; the server stops accepting, finishes in-flight requests and
exits, so a scale-in or a new revision never cuts a request short.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType


class Handler(BaseHTTPRequestHandler):
    server_version = "analytics"
    sys_version = ""

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._reply(200, {"status": "ok"})
        elif self.path == "/":
            self._reply(
                200, {"service": os.environ.get("K_SERVICE", "analytics"), "revision": os.environ.get("K_REVISION")}
            )
        else:
            self._reply(404, {"error": "not found"})

    def _reply(self, status: int, body: dict[str, object]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        # One JSON line per request on stdout: Cloud Logging parses it into a structured entry.
        print(json.dumps({"severity": "INFO", "message": format % args}), flush=True)


def migrate() -> None:
    """The migrations job's entrypoint. This example has no schema, so there is nothing to apply; a real service runs
    its migration tool here (alembic upgrade head, ...) and exits non-zero on failure so the deploy stops."""
    print(json.dumps({"severity": "INFO", "message": "no schema: nothing to migrate"}), flush=True)


def serve() -> None:
    port = int(os.environ.get("PORT", "8080"))
    server = ThreadingHTTPServer(("", port), Handler)
    server.daemon_threads = False  # wait for in-flight requests on shutdown

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(json.dumps({"severity": "INFO", "message": f"listening on :{port}"}), flush=True)
    server.serve_forever()
    server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    if sys.argv[1:] == ["migrate"]:
        migrate()
    else:
        serve()
