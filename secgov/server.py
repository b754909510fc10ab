"""The production WSGI server: gunicorn, with each worker building its own app."""

from __future__ import annotations

import gc
import logging
import os

from gunicorn.app.base import BaseApplication
from gunicorn.http import wsgi

from secgov.app import create_app


def configure_logging() -> None:
    """Log to stderr; at INFO each audit append logs the new chain head (seq and hash)."""
    logging.basicConfig(
        level=os.environ.get("SECGOV_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s",
    )


class _AnonymousResponse(wsgi.Response):
    """gunicorn's HTTP/1 response without the `Server: gunicorn` line it always writes.

    gunicorn has no setting for that line (benoitc/gunicorn#825); `default_headers` is the one
    method that writes it, and `wsgi.create` builds its responses from the module's `Response`
    unless a protocol hands it another class (its documented `response_class`). Installed by
    `run`, before the workers fork; `tests/test_serve.py` proves it on the real server."""

    def default_headers(self) -> list[str]:
        return [line for line in super().default_headers() if not line.lower().startswith("server:")]


class _Server(BaseApplication):
    def __init__(self, options: dict):
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        configure_logging()
        app = create_app()
        # What the app holds now (routes, templates, catalogs, translations) lives as long as
        # the worker: keep it out of the collector's full passes, which otherwise walk it again
        # and again while requests allocate.
        gc.collect()
        gc.freeze()
        return app


def run(host: str = "127.0.0.1", port: int = 5000, workers: int = 2, threads: int = 4) -> None:
    """Serve on host:port until interrupted."""
    # The Server header names no product (secgov.web sets every other header of the answers).
    wsgi.Response = _AnonymousResponse
    _Server(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            "accesslog": "-",
            "errorlog": "-",
            "timeout": 60,
            "graceful_timeout": 10,
            "limit_request_line": 8190,
            "preload_app": False,
        }
    ).run()
