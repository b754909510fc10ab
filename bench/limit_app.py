"""The limit: plain Flask replaying recorded answers, on gunicorn with the production server's settings.

`python bench/limit_app.py SPEC.json`. The spec (written by harness.start_limit) holds the
gunicorn settings read from `python -m secgov serve` in the checkout being measured, the bind
address, and, for each recorded request target (path and query), the status, headers and body the
real endpoint answered. Each answer goes out byte for byte as recorded: no database, session,
translations, CSRF or templates. What is left is what every request of the real app costs too:
gunicorn, WSGI, Flask's request context and routing, and the bytes on the socket. Nothing of the
project is imported here.
"""

from __future__ import annotations

import base64
import gc
import json
import sys

from flask import Flask, Response, request
from gunicorn.app.base import BaseApplication

# Set by gunicorn itself on every answer: recorded copies would go out twice.
HOP_BY_HOP = frozenset({"date", "server", "connection", "keep-alive", "transfer-encoding"})


def create_app(answers: dict[str, dict]) -> Flask:
    """A Flask app answering each recorded target with its recorded answer, and 404 otherwise."""
    app = Flask(__name__)
    by_path: dict[str, dict[str, tuple[int, list[tuple[str, str]], bytes]]] = {}
    for target, answer in answers.items():
        path, _sep, query = target.partition("?")
        headers = [(k, v) for k, v in answer["headers"] if k.lower() not in HOP_BY_HOP]
        by_path.setdefault(path, {})[query] = (answer["status"], headers, base64.b64decode(answer["body"]))

    def replay() -> Response:
        recorded = by_path[request.path].get(request.query_string.decode("latin-1"))
        if recorded is None:
            return Response(status=404)
        status, headers, body = recorded
        return Response(body, status=status, headers=headers)

    for number, path in enumerate(by_path):
        app.add_url_rule(path, f"replay_{number}", replay)
    return app


class LimitServer(BaseApplication):
    def __init__(self, options: dict, answers: dict[str, dict]):
        self.options = options
        self.answers = answers
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        app = create_app(self.answers)
        # The production workers freeze what they hold at start-up out of the collector's passes
        # (secgov/server.py); the limit's workers start the same way.
        gc.collect()
        gc.freeze()
        return app


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as spec_file:
        spec = json.load(spec_file)
    LimitServer({**spec["settings"], "bind": spec["bind"]}, spec["answers"]).run()
