"""Fuzz the JSON API from its own OpenAPI document (schemathesis), in-process, as an admin.

Every operation gets schema-valid (positive) and schema-invalid (negative) requests: the
answers must not be 5xx, must use documented status codes and match the documented bodies,
every error must be {"error": {"code", "message"}}, and no answer may carry a traceback.

schemathesis' own pytest loader (`schemathesis.pytest.from_fixture`) does not run on this
pytest (it sets `Function._nodeid`, which pytest 9.2 no longer has), so the cases are drawn
with Hypothesis from `operation.as_strategy()` and sent to the test's app with `case.call(app=...)`.
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from fuzz_support import FUZZ_SETTINGS, assert_clean
from hypothesis import given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    ignored_auth,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from scans import nmap
from secgov.app import create_app

# Left out on purpose: `positive_data_acceptance` (a schema-valid request may still break a
# business rule: unknown parent department, taken user name, stale version -> 404/409/422), and
# `negative_data_rejection` (pydantic's lax parsing accepts a few strings the document does not
# promise, e.g. "0" as the date 1970-01-01: lenient, not an error). Negative cases must still be
# answered without a 5xx, with a documented status and body, which the other checks enforce.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    ignored_auth,
    unsupported_method,
]


def _load_schema():
    """The OpenAPI document as the app serves it (no database is touched to serve it)."""
    app = create_app({"TESTING": True, "SECRET_KEY": "openapi-only", "DATABASE_URL": "sqlite://", "REDIS_URL": None})
    try:
        config = schemathesis.Config.from_dict(
            # The token is sent by the test: no generated (or negated) Authorization headers.
            {"seed": 20_240_601, "generation": {"deterministic": True, "with-security-parameters": False}}
        )
        return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=config)
    finally:
        app.extensions["secgov_engine"].dispose()


SCHEMA = _load_schema()
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


def negatable(operation) -> bool:
    """Whether a request can break the document: a query, a body, or a path parameter that is
    more than any string (the Authorization header is the test's own)."""
    plain = ({}, {"type": "string"})
    return bool(
        len(operation.query)
        or operation.body
        or any(p.definition.get("schema", {}) not in plain for p in operation.path_parameters)
    )


CASES = [
    (operation, mode)
    for operation in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode == GenerationMode.POSITIVE or negatable(operation)
]
# One test per tag of the document (an app and its users cost more than a few requests);
# every operation and mode of the tag is drawn, EXAMPLES_PER_CASE times on average.
TAGS = sorted({(operation.tags or ["untagged"])[0] for operation in OPERATIONS})
EXAMPLES_PER_CASE = 12


def cases_of(tag: str) -> list:
    return [(operation, mode) for operation, mode in CASES if (operation.tags or ["untagged"])[0] == tag]


# Path parameters naming things that exist, so that fuzzing also reaches past the lookup.
# The admin's own name is left out: PATCH on oneself may move one out of one's own scope.
KNOWN_PATH = {"code": ("north", "north-unit", "city"), "username": ("fuzz-officer",)}


@pytest.fixture
def token(make_user, make_department, api_token):
    admin = make_user("fuzz-admin", roles=("admin",))
    make_department("north", parent="city")
    make_department("north-unit", parent="north", kind="unit")
    make_user("fuzz-officer", roles=("officer",), department="north")
    return api_token(admin)


def cases(operation, mode: GenerationMode):
    """Generated cases; half of them, where the path names something, name a real one."""
    generated = operation.as_strategy(generation_mode=mode)
    names = [p.name for p in operation.path_parameters if p.name in KNOWN_PATH]
    if not names:
        return generated
    known = st.fixed_dictionaries({name: st.sampled_from(KNOWN_PATH[name]) for name in names}).flatmap(
        lambda path: operation.as_strategy(generation_mode=mode, path_parameters=path)
    )
    return st.one_of(generated, known)


def assert_error_format(response) -> None:
    """Every error answer of the API is JSON: {"error": {"code": str, "message": str, ...}}."""
    if response.status_code < 400:
        return
    assert response.headers.get("content-type", [""])[0].startswith("application/json"), response.headers
    body = json.loads(response.content)
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error.get("code"), str) and error["code"], body
    assert isinstance(error.get("message"), str) and error["message"], body


@pytest.fixture
def nmap_runs(monkeypatch):
    """No fuzzed request may get nmap started (the fuzzer holds no leader to approve a scan
    authorization, so none can be queued): every attempt is noted and refused."""
    runs = []

    def refuse(argv, **_options):
        runs.append(list(argv))
        raise nmap.NmapError("refused", "fuzzing")

    monkeypatch.setattr(nmap, "run", refuse)
    return runs


@pytest.mark.parametrize("tag", TAGS)
def test_api_operations(app, token, tag, nmap_runs):
    """Positive and negative cases of every operation of the tag; a failure names its operation."""
    tag_cases = cases_of(tag)
    headers = {"Authorization": f"Bearer {token}"}

    @settings(FUZZ_SETTINGS, max_examples=EXAMPLES_PER_CASE * len(tag_cases))
    @given(data=st.data())
    def fuzz(data):
        operation, mode = data.draw(st.sampled_from(tag_cases), label="operation")
        case = data.draw(cases(operation, mode), label=f"{operation.label} {mode.value}")
        response = case.call(app=app, headers=headers)
        case.validate_response(response, checks=CHECKS, headers=headers, transport_kwargs={"app": app})
        assert_error_format(response)
        assert_clean(response, f"{operation.label} ({mode.value})")

    fuzz()
    assert nmap_runs == []


def test_every_operation_is_fuzzed():
    """Each operation is drawn by one tag's test, with positive and (where possible) negative cases."""
    drawn = [case for tag in TAGS for case in cases_of(tag)]
    assert sorted(drawn, key=repr) == sorted(CASES, key=repr)
    assert {operation.label for operation, _mode in CASES} == {operation.label for operation in OPERATIONS}


def test_document_is_the_served_one(client):
    """The fuzzed document is the one the app under test serves."""
    assert client.get("/api/v1/openapi.json").json == SCHEMA.raw_schema


# --- bodies and values that generated cases rarely reach -----------------------------------

HOSTILE_BODIES = {
    "deep-array": "[" * 100_000 + "]" * 100_000,
    "deep-object": '{"a":' * 5_000 + "1" + "}" * 5_000,
    "nul-code": '{"code": "n\\u0000", "name": "x", "kind": "unit", "parent": "city"}',
    "nul-name": '{"code": "nul", "name": "a\\u0000b", "kind": "unit", "parent": "city"}',
    "nul-key": '{"code": "nul", "name": "x", "kind": "unit", "parent": "city", "\\u0000": 1}',
    "nul-raw": "\x00",
    "string": '"just a string"',
    "null": "null",
    "huge-number": "1e999999",
    "huge": '{"code": "x", "name": "' + "x" * 2_000_000 + '"}',
}

HOSTILE_URLS = [
    "/api/v1/audit?until=9999-12-31",
    "/api/v1/audit?since=9999-12-31&until=0001-01-01",
    "/api/v1/audit?actor=%00",
    "/api/v1/users?q=%00",
    "/api/v1/users?q=" + "%25" * 100,
    "/api/v1/users/%00",
    "/api/v1/users/fuzz-officer%00",
    "/api/v1/departments/%00",
    "/api/v1/departments?page=99999999999999999999999",
]


def test_hostile_json_bodies(client, token, subtests):
    """Bodies too deep to parse, NUL in values or keys, not objects, too large: a clear 4xx."""
    for name, body in HOSTILE_BODIES.items():
        with subtests.test(name):
            response = client.post(
                "/api/v1/departments",
                data=body,
                content_type="application/json",
                headers={"Authorization": f"Bearer {token}"},
            )
            assert_clean(response, f"POST /api/v1/departments ({name})")
            assert 400 <= response.status_code < 500
            assert set(response.json) == {"error"}


def test_hostile_query_and_path(client, token, subtests):
    """Dates at the end of the calendar, NUL in filters and names, absurd pages."""
    for url in HOSTILE_URLS:
        with subtests.test(url):
            response = client.get(url, headers={"Authorization": f"Bearer {token}"})
            assert_clean(response, url)
            assert response.status_code in (200, 400, 404, 422)
            assert response.status_code == 200 or set(response.json) == {"error"}
