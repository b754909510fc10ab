"""The README says what the application does: every API endpoint and method is in its table."""

from __future__ import annotations

import re

import pytest
from helpers import DATA_KEY

from secgov.app import create_app
from secgov.config import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
METHOD_ORDER = ("GET", "POST", "PATCH", "PUT", "DELETE")


def _api_table() -> dict[str, set[str]]:
    """The README's API table: path -> methods."""
    table: dict[str, set[str]] = {}
    for path, methods in re.findall(r"^\| `(/api/v1/[^`]*)`[^|]*\| ([^|]+) \|", README, flags=re.M):
        table[path] = {m for m in METHOD_ORDER if re.search(rf"\b{m}\b", methods)}
    return table


@pytest.mark.nodb
def test_every_api_endpoint_is_in_the_readme():
    app = create_app(
        {"TESTING": True, "SECRET_KEY": "x" * 32, "SECGOV_DATA_KEYS": DATA_KEY, "DATABASE_URL": "sqlite://"}
    )
    app.extensions["secgov_engine"].dispose()
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            routes.setdefault(path, set()).update(rule.methods - {"HEAD", "OPTIONS"})
    documented = _api_table()
    missing = {path: sorted(methods - documented.get(path, set())) for path, methods in routes.items()}
    missing = {path: methods for path, methods in missing.items() if methods}
    assert not missing, f"add to the README's API table: {missing}"
    assert set(documented) <= set(routes), (
        f"the README lists endpoints that do not exist: {set(documented) - set(routes)}"
    )
