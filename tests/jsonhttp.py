"""JSON over HTTP for the tests: the base of their fake servers (a quiet http.server handler that
answers in JSON), and a client that sends its whole body before it reads, as Python's http.client does."""

from __future__ import annotations

import http.client
import json
import socket
from http.server import BaseHTTPRequestHandler


class JSONHandler(BaseHTTPRequestHandler):
    def send_json(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:  # no line per request on the test's stderr
        pass


def send_first(base_url: str, path: str, body: bytes, content_type: str) -> tuple[int, dict, dict]:
    """POST `body` as Python's http.client does (the whole body, then read the answer): status, headers, JSON."""
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        connection.request("POST", path, body=body, headers={"Content-Type": content_type})
        answer = connection.getresponse()
        return answer.status, dict(answer.getheaders()), json.loads(answer.read())
    finally:
        connection.close()


def free_port() -> int:
    """A TCP port free on loopback now (for a server a test starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
