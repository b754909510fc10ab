"""The audit log as people read it: every recorded action has a name in both languages, and the
page shows names, people, links, local times and changed fields instead of raw JSON, while the
API keeps its fields and the chain its content."""

from __future__ import annotations

import ast
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from factories import config_of
from helpers import login
from sqlmodel import select
from test_audit import recorded_at

from assets import services
from assets.schemas import AssetUpdate
from secgov import audit, domains
from secgov.audit_terms import CHANNELS
from secgov.authz import Actor
from secgov.codes import _translations
from secgov.config import LANGUAGES
from secgov.directory import DepartmentUpdate, UserUpdate, update_department, update_user
from secgov.models import AuditEntry, Department, User

ROOT = Path(__file__).resolve().parent.parent
# The calls that record an action, and the position of the action among their arguments.
RECORDING_CALLS = {"record": 2, "Event": 0, "Refusal": 1, "refuse": 1}
# The recording machinery itself: it forwards actions it is given.
MACHINERY = {ROOT / "secgov" / "audit.py"}


def _modules() -> list[Path]:
    packages = ["secgov", *(domain.name for domain in domains.registry().domains)]
    return [
        path
        for package in packages
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts and path not in MACHINERY
    ]


def _name(call: ast.Call) -> str | None:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)


def _argument(call: ast.Call, position: int, keyword: str) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value
    return call.args[position] if len(call.args) > position else None


def _parameters(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    return [a.arg for a in [*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs]]


def _template(node: ast.JoinedStr) -> tuple[str, list[ast.expr]]:
    """An f-string as a format template with {0}, {1}... and the expressions that fill them."""
    parts, values = [], []
    for value in node.values:
        if isinstance(value, ast.Constant):
            parts.append(str(value.value).replace("{", "{{").replace("}", "}}"))
        else:
            parts.append(f"{{{len(values)}}}")
            values.append(value.value)
    return "".join(parts), values


def recorded_actions() -> tuple[set[str], set[str], list[str]]:
    """What the code records, read from its source: the actions named outright (literals, and the
    values that functions forwarding an action or part of one are called with), the patterns of
    actions built from an object's attribute (`f"{register.name}.imported"`), and any call whose
    action the scan cannot follow."""
    trees = {path: ast.parse(path.read_text(encoding="utf-8")) for path in _modules()}
    literals: set[str] = set()
    patterns: set[str] = set()
    unknown: list[str] = []
    # function name -> [(template, the parameters filling it)]: actions built from a parameter.
    forwarders: dict[str, list[tuple[str, list[str]]]] = {}
    signatures: dict[str, list[str]] = {}
    for path, tree in trees.items():
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            params = _parameters(function)
            signatures.setdefault(function.name, params)
            for call in ast.walk(function):
                if not isinstance(call, ast.Call) or _name(call) not in RECORDING_CALLS:
                    continue
                action = _argument(call, RECORDING_CALLS[_name(call)], "action")
                where = f"{path.relative_to(ROOT)}:{call.lineno}"
                if action is None:
                    continue
                if isinstance(action, ast.Constant) and isinstance(action.value, str):
                    literals.add(action.value)
                elif isinstance(action, ast.Name) and action.id in params:
                    forwarders.setdefault(function.name, []).append(("{0}", [action.id]))
                elif isinstance(action, ast.JoinedStr):
                    template, values = _template(action)
                    if all(isinstance(v, ast.Name) and v.id in params for v in values):
                        forwarders.setdefault(function.name, []).append((template, [v.id for v in values]))
                    elif all(isinstance(v, ast.Attribute | ast.Name) for v in values):
                        pieces = re.split(r"\{\d+\}", template.replace("{{", "{").replace("}}", "}"))
                        patterns.add("[a-z_]+".join(re.escape(piece) for piece in pieces))
                    else:
                        unknown.append(where)
                else:
                    unknown.append(where)
    # The values forwarders are called with, through any number of forwarders.
    done: set[tuple[str, str]] = set()
    while forwarders:
        name, uses = forwarders.popitem()
        params = signatures[name]
        for tree in trees.values():
            for call in ast.walk(tree):
                if not isinstance(call, ast.Call) or _name(call) != name:
                    continue
                for template, names in uses:
                    values = [_argument(call, params.index(p), p) for p in names]
                    if all(isinstance(v, ast.Constant) and isinstance(v.value, str) for v in values):
                        literals.add(template.format(*(v.value for v in values)))
                    elif (name, template) not in done:
                        unknown.append(f"a call of {name}() at line {call.lineno}")
        done.update((name, template) for template, _names in uses)
    return literals, patterns, unknown


@pytest.mark.nodb
def test_every_action_the_code_records_has_a_label():
    words = domains.registry().audit_vocabulary
    literals, patterns, unknown = recorded_actions()
    assert not unknown, f"actions the scan cannot follow (name them outright or teach the scan): {unknown}"
    # The scan finds what it should (a scan that finds nothing proves nothing).
    assert {"auth.login", "asset.created", "auth.logout", "user.password_change_failed", "authz.denied"} <= literals
    assert any(p.endswith(r"\.imported") for p in patterns)
    unlabelled = sorted(action for action in literals if action not in words.actions)
    assert not unlabelled, f"recorded actions without a label: {unlabelled}"
    for pattern in patterns:
        assert any(re.fullmatch(pattern, action) for action in words.actions), f"no label matches {pattern}"
    # Each register's actions are named after the register.
    for register in domains.registry().registers:
        for suffix in ("imported", "import_undone", "exported"):
            assert f"{register.name}.{suffix}" in words.actions


@pytest.mark.nodb
def test_every_label_and_group_reads_in_every_language():
    words = domains.registry().audit_vocabulary
    for action in words.actions:
        assert action.split(".", 1)[0] in words.groups, f"{action}: its group has no label"
        labels = {lang: words.action_label(action, lang) for lang in LANGUAGES}
        assert all(label and label != action for label in labels.values()), action
        assert labels["zh"] != labels["en"], f"{action} is not translated"
    for kind in words.objects.values():
        assert _translations("zh").gettext(kind.label) != kind.label
    assert words.action_label("something.unknown", "zh") == "something.unknown"  # shown by its code
    assert words.action_label("assets.imported", "zh") == "从文件导入资产"
    assert words.action_label("vendors.exported", "en") == "Vendors exported to a file"
    assert set(CHANNELS) == {"web", "api", "cli", "job"}


@pytest.fixture
def changed_city(app, session, make_department, make_user):
    """A department renamed in Chinese and a user given a display name, by a named admin."""
    make_department("city", name="示范市")
    make_department("traffic", parent="city", name="交通局")
    admin = make_user("root.admin", roles=("admin",), mfa=True)
    auditor = make_user("city.auditor", roles=("auditor",))
    with app.test_request_context():
        admin = session.get(type(admin), admin.id)
        update_user(session, admin, UserUpdate(display_name="张三 Zhang San", version=admin.version), Actor.system())
        session.commit()
        dept = session.exec(select(Department).where(Department.code == "traffic")).one()
        with recorded_at(datetime(2024, 3, 1, 16, 30, tzinfo=UTC)):
            update_department(
                session,
                dept,
                DepartmentUpdate(name="交通运输局", version=dept.version),
                Actor.of(admin, "web", "10.1.2.3"),
            )
        session.commit()
    return {"admin": admin, "auditor": auditor}


def test_page_shows_names_people_links_local_times_and_changes(app, client, changed_city):
    login(client, changed_city["admin"])
    html = client.get("/audit").get_data(as_text=True)
    assert "修改部门" in html  # the action's name, in the default language
    assert "张三 Zhang San" in html and "root.admin" in html  # who: display name and user name
    assert 'href="/admin/departments/traffic/edit"' in html  # what: linked to its page
    # Before and after side by side, Chinese as Chinese.
    assert re.search(r"<td class=\"before\">交通局</td>\s*<td class=\"after\">交通运输局</td>", html)
    assert "\\u4ea4" not in html and "&#34;name&#34;" not in html.split("<details")[0]
    # When: 16:30 UTC is half past midnight the next day in Shanghai, and the page says so.
    assert "2024-03-02 00:30:00 UTC+8" in html
    assert '<time datetime="2024-03-01T16:30:00+00:00">' in html
    # The recorded content is still there, folded, readable.
    assert '"name": "交通运输局"' in html.replace("&#34;", '"')

    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    client.post("/language", data={"lang": "en"})
    html = client.get("/audit").get_data(as_text=True)
    assert "Department changed" in html and "Department" in html
    assert '<option value="department.updated"' in html
    assert "User changed" in html


def test_page_link_only_where_the_reader_may_open_the_page(app, client, changed_city):
    login(client, changed_city["auditor"])  # auditors do not open the admin pages
    html = client.get("/audit").get_data(as_text=True)
    assert "修改部门" in html
    assert "/admin/departments/traffic/edit" not in html


def test_page_action_list_picks_one_action_or_a_group(app, client, session, changed_city):
    with app.test_request_context():
        for action in ("auth.login", "auth.login_failed"):
            audit.record(session, Actor(username="zhao", channel="web"), action, object_type="user", object_id="zhao")
        session.commit()
    login(client, changed_city["auditor"])
    one = client.get("/audit?action=auth.login&actor=zhao").get_data(as_text=True)
    assert one.count("<code>auth.login</code>") == 1 and "auth.login_failed" not in one.split("<table")[1]
    group = client.get("/audit?action=auth.&actor=zhao").get_data(as_text=True)
    assert "<code>auth.login_failed</code>" in group and "<code>auth.login</code>" in group
    assert '<option value="auth." selected>' in group
    # A prefix typed by hand (as the API takes it) still works and stays in the list.
    typed = client.get("/audit?action=auth.log&actor=zhao").get_data(as_text=True)
    assert "<code>auth.login_failed</code>" in typed and '<option value="auth.log" selected>' in typed


def test_api_keeps_its_fields_adds_the_label_and_the_chain_is_untouched(app, client, session, changed_city, api_token):
    before = [(e.seq, e.hash, e.detail) for e in session.exec(select(AuditEntry).order_by(AuditEntry.seq)).all()]
    token = api_token(changed_city["auditor"])
    response = client.get(
        "/api/v1/audit?action=department.updated",
        headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"},
    )
    item = response.get_json()["items"][0]
    assert set(item) == {
        "seq", "created_at", "actor", "channel", "ip", "action", "action_label", "object_type", "object_id",
        "detail", "prev_hash", "hash",
    }  # fmt: skip
    assert item["action_label"] == "Department changed"
    assert item["detail"]["after"]["name"] == "交通运输局"
    assert item["created_at"] == "2024-03-01T16:30:00.000000+00:00"
    assert "\\u" not in json.dumps(item["detail"], ensure_ascii=False)
    client.get("/audit")  # reading the page changes nothing recorded
    session.expire_all()
    after = [(e.seq, e.hash, e.detail) for e in session.exec(select(AuditEntry).order_by(AuditEntry.seq)).all()]
    assert after[: len(before)] == before
    assert audit.verify(session).ok


def test_page_names_only_departments_in_the_readers_scope(app, client, session, make_department, make_user, make_asset):
    """An asset moved from bureau b to bureau a: a's auditor reads the entry, and sees b's code as
    recorded, not the name of a department outside their scope."""
    make_department("city")
    make_department("a", parent="city", name="Transport Bureau")
    make_department("b", parent="city", name="Water Authority")
    admin = make_user("root.admin", roles=("admin",), department="city")
    make_user("officer.b", roles=("officer",), department="b")
    auditor = make_user("aud.a", roles=("auditor",), department="a")
    make_asset("X-1", "b", owner="officer.b")
    with app.test_request_context():
        asset = services.asset_by_code(session, "X-1")
        services.update_asset(
            session, asset, AssetUpdate(department="a", version=asset.version),
            Actor.of(session.get(User, admin.id), "web"), config_of(app),
        )  # fmt: skip
        session.commit()
    login(client, auditor)
    html = client.get("/audit", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Transport Bureau" in html and "Water Authority" not in html
