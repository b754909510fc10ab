"""`python -m secgov serve` runs the production server (gunicorn) and answers on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(database_url, tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "serve-test-key",
        "SECGOV_INSTANCE_PATH": str(tmp_path),
        "SECGOV_LOG_LEVEL": "WARNING",
    }
    env.pop("REDIS_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "secgov", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:  # noqa: S310 - loopback URL built here
                if response.status == 200:
                    break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                output = proc.communicate()[0].decode(errors="replace")
                pytest.fail(f"server did not start:\n{output}")
            time.sleep(0.2)
    yield base
    proc.send_signal(signal.SIGTERM)
    try:
        proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()


def names_no_product(headers) -> bool:
    """No Server header, or one that names neither the server, the framework nor the language."""
    return not any(product in value.lower() for value in headers.get_all("Server") or [] for product in PRODUCTS)


PRODUCTS = ("gunicorn", "werkzeug", "python", "flask")


def test_serve_answers_with_security_headers(server):
    with urllib.request.urlopen(f"{server}/login", timeout=5) as response:  # noqa: S310 - loopback URL built here
        assert response.status == 200
        assert names_no_product(response.headers), response.headers.get_all("Server")
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["Cache-Control"] == "no-store"
        # The server's cookies are Secure by default: the deployment is HTTPS, so HSTS is on.
        assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
        body = response.read().decode()
    assert 'name="csrf_token"' in body


def test_serve_names_no_product_on_any_answer(server):
    """Static files, errors and HEAD requests are written by the same server code: none names it."""
    with urllib.request.urlopen(f"{server}/static/secgov.css", timeout=5) as response:  # noqa: S310
        assert response.status == 200
        assert names_no_product(response.headers), response.headers.get_all("Server")
    head = urllib.request.Request(f"{server}/healthz", method="HEAD")  # noqa: S310 - loopback URL built here
    with urllib.request.urlopen(head, timeout=5) as response:  # noqa: S310
        assert names_no_product(response.headers), response.headers.get_all("Server")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{server}/no-such-page", timeout=5)  # noqa: S310
    assert caught.value.code == 404
    assert names_no_product(caught.value.headers), caught.value.headers.get_all("Server")
    caught.value.close()


def test_serve_answers_api_errors_as_json(server):
    request = urllib.request.Request(f"{server}/api/v1/departments")  # noqa: S310 - loopback URL built here
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)  # noqa: S310
    assert caught.value.code == 401
    assert names_no_product(caught.value.headers), caught.value.headers.get_all("Server")
    assert b'"unauthorized"' in caught.value.read()
    caught.value.close()
