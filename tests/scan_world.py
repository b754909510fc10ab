"""What the scan tests arrange: HTTP and TCP servers on 127.0.0.x (every network scan of the test
suite targets one of these and nothing else), assets in a network zone, and approved
authorizations (asked for by the city's admin, approved by its leader)."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, select

from scans import authorizations, policy
from scans.schemas import AuthorizationCreate, Decision, PolicyUpdate
from secgov.authz import Actor
from secgov.config import ServiceConfig
from secgov.models import User


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - the handler's name
        body = b"<html><title>scan test</title><body>ok</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # a port scan resets connections: nothing to report


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@contextmanager
def http_server(host: str, port: int = 0) -> Iterator[int]:
    """An HTTP server on host:port (a free port when 0) while the block runs; yields the port."""
    server = _Server((host, port), _Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def tcp_server(host: str) -> Iterator[int]:
    """A TCP server listening on host (127.0.0.x) that accepts and closes connections; its port."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, 0))
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _peer = listener.accept()
            except OSError:
                continue
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=2)
        listener.close()


def actor_of(app, username: str) -> Actor:
    with Session(app.extensions["secgov_engine"]) as session:
        return Actor.of(session.exec(select(User).where(User.username == username)).one(), "cli")


def set_zone(app, asset_id: int, zone: str) -> None:
    with Session(app.extensions["secgov_engine"]) as session, app.test_request_context():
        policy.update(session, Actor.system("cli"), asset_id, PolicyUpdate(zone=zone))
        session.commit()


def authorize(app, scope: list[str], zone: str = "local", *, requester="root.admin", approver="leader") -> int:
    """An approved authorization of the city's root department, valid for a day."""
    config = ServiceConfig.from_mapping(app.config)
    now = datetime.now(UTC)
    with Session(app.extensions["secgov_engine"]) as session, app.test_request_context():
        data = AuthorizationCreate(
            scope=scope, purpose="tests", zone=zone, valid_from=now - timedelta(minutes=1),
            valid_until=now + timedelta(days=1), max_profile="standard", fragile_profile="discovery",
        )  # fmt: skip
        row = authorizations.request(session, actor_of(app, requester), data, config)
        session.commit()
        authorizations.approve(session, actor_of(app, approver), row.id, Decision(version=row.version), config)
        session.commit()
        return row.id
