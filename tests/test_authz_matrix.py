"""Deny by default, checked two ways.

1. Every URL rule declares who may use it (walks app.url_map).
2. The role x route matrix: every route and method, every role, with an object inside the
   user's department scope, one outside it and a missing one. Out of scope and missing answer
   404; a role without the right answers 403, leaves the database unchanged and is audited.

Later issues add their routes to ROUTES; test_every_route_is_in_the_matrix fails until they do.
"""

from __future__ import annotations

import copy
import functools
import importlib
import io
import logging
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import factories
import pyotp
import pytest
from helpers import PASSWORD, login
from matrix import ADMIN, ALL, AUDIT_READERS, ROLES, SETTINGS_READERS, Route
from saved_rows import SavedRows, schema, url_of
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from assessments.models import Assessment, AssessmentFinding, Risk
from assets.models import Asset
from drills import feeds
from drills.models import (
    CalendarFeed,
    CorrectiveAction,
    Drill,
    DrillAsset,
    DrillObjective,
    DrillRequest,
    DrillTimelineEntry,
)
from scans import ingest
from scans.models import Scan, ScanAuthorization, ScanFinding, ScanSchedule
from secgov import audit, auth, runs, schedules
from secgov.authz import AUTHENTICATED, PUBLIC, Actor, declaration
from secgov.jobs import SYSTEM_CHECK
from secgov.models import ApiToken, AuditEntry, Department, Report, ReportAttachment, ReportFile, User, UserRole

# Objects for each kind of path parameter: inside the scope of bureau "a", outside it, missing.
OBJECTS = {
    "dept": {"in": "a1", "out": "b", "missing": "no-such-dept"},
    "user": {"in": "victim.a1", "out": "victim.b", "missing": "no.such.user"},
    "token": {"in": "OWN", "out": "OTHER", "missing": "999999"},
}


NEW_DEPT = {"code": "new-unit", "name": "New unit", "kind": "unit", "parent": "a1"}
NEW_USER = {"username": "new.user", "department": "a1", "roles": ["officer"], "password": "a long enough password"}

ROUTES = [
    # core pages
    Route("static", "GET", "/static/secgov.css", PUBLIC),
    Route("main.healthz", "GET", "/healthz", PUBLIC),
    Route("main.index", "GET", "/", ALL),
    Route("main.departments", "GET", "/departments", ALL),
    # sign-in
    Route("auth.login", "GET", "/login", PUBLIC),
    Route("auth.login", "POST", "/login", PUBLIC, form={"username": "nobody", "password": "x"}),
    Route("auth.login_mfa", "GET", "/login/mfa", PUBLIC),
    Route("auth.login_mfa", "POST", "/login/mfa", PUBLIC, form={"code": "000000"}),
    Route("auth.logout", "POST", "/logout", PUBLIC),
    Route("auth.language", "POST", "/language", PUBLIC, form={"lang": "en"}),
    # own account
    Route("account.index", "GET", "/account", AUTHENTICATED),
    Route(
        "account.password",
        "POST",
        "/account/password",
        AUTHENTICATED,
        form={"current_password": "wrong", "new_password": "x", "repeat_password": "x"},
    ),
    Route("account.mfa", "GET", "/account/mfa", AUTHENTICATED),
    Route("account.mfa", "POST", "/account/mfa", AUTHENTICATED, form={"code": "000000"}),
    Route("account.mfa_disable", "POST", "/account/mfa/disable", AUTHENTICATED, form={"code": "000000"}),
    Route("account.token_create", "POST", "/account/tokens", AUTHENTICATED, form={"name": "laptop"}),
    Route("account.token_revoke", "POST", "/account/tokens/{obj}/revoke", AUTHENTICATED, obj="token"),
    Route("account.sign_out_everywhere", "POST", "/account/sign-out-everywhere", AUTHENTICATED),
    # administration
    Route("admin.department_create", "GET", "/admin/departments/new", ADMIN),
    Route(
        "admin.department_create",
        "POST",
        "/admin/departments/new",
        ADMIN,
        form=NEW_DEPT,
        out_of_scope_body={**NEW_DEPT, "parent": "b"},
    ),
    Route("admin.department_edit", "GET", "/admin/departments/{obj}/edit", ADMIN, obj="dept"),
    Route(
        "admin.department_edit",
        "POST",
        "/admin/departments/{obj}/edit",
        ADMIN,
        obj="dept",
        form={"name": "Renamed", "kind": "unit", "parent": "a", "version": 1},
    ),
    Route("admin.department_delete", "POST", "/admin/departments/{obj}/delete", ADMIN, obj="dept"),
    Route("admin.users", "GET", "/admin/users", ADMIN),
    Route("admin.user_create", "GET", "/admin/users/new", ADMIN),
    Route(
        "admin.user_create",
        "POST",
        "/admin/users/new",
        ADMIN,
        form=NEW_USER,
        out_of_scope_body={**NEW_USER, "department": "b"},
    ),
    Route("admin.user_edit", "GET", "/admin/users/{obj}", ADMIN, obj="user"),
    Route(
        "admin.user_edit",
        "POST",
        "/admin/users/{obj}",
        ADMIN,
        obj="user",
        form={"display_name": "Changed", "department": "a1", "roles": ["auditor"], "version": 1},
    ),
    Route(
        "admin.user_password",
        "POST",
        "/admin/users/{obj}/password",
        ADMIN,
        obj="user",
        form={"password": "another long password"},
    ),
    Route("admin.user_mfa_reset", "POST", "/admin/users/{obj}/mfa-reset", ADMIN, obj="user"),
    Route("admin.user_sign_out", "POST", "/admin/users/{obj}/sign-out", ADMIN, obj="user"),
    Route("admin.settings_page", "GET", "/admin/settings", ADMIN),
    Route(
        "admin.settings_page",
        "POST",
        "/admin/settings",
        ADMIN,
        form={"setting": "mfa_required_roles", "mfa_required_roles": ["admin", "leader"]},
        city_only="setting.denied",
    ),
    # audit log
    Route("audit.index", "GET", "/audit", AUDIT_READERS),
    Route("audit.verify", "GET", "/audit/verify", AUDIT_READERS),
    # API
    Route("api.openapi", "GET", "/api/v1/openapi.json", PUBLIC),
    Route("api.me", "GET", "/api/v1/me", AUTHENTICATED),
    Route("api_directory.departments_list", "GET", "/api/v1/departments", ALL),
    Route(
        "api_directory.departments_create",
        "POST",
        "/api/v1/departments",
        ADMIN,
        form=NEW_DEPT,
        out_of_scope_body={**NEW_DEPT, "parent": "b"},
    ),
    Route("api_directory.departments_get", "GET", "/api/v1/departments/{obj}", ALL, obj="dept"),
    Route(
        "api_directory.departments_update",
        "PATCH",
        "/api/v1/departments/{obj}",
        ADMIN,
        obj="dept",
        form={"name": "Renamed", "version": 1},
    ),
    Route("api_directory.departments_delete", "DELETE", "/api/v1/departments/{obj}", ADMIN, obj="dept"),
    Route("api_directory.users_list", "GET", "/api/v1/users", ADMIN),
    Route(
        "api_directory.users_create",
        "POST",
        "/api/v1/users",
        ADMIN,
        form=NEW_USER,
        out_of_scope_body={**NEW_USER, "department": "b"},
    ),
    Route("api_directory.users_get", "GET", "/api/v1/users/{obj}", ADMIN, obj="user"),
    Route(
        "api_directory.users_update",
        "PATCH",
        "/api/v1/users/{obj}",
        ADMIN,
        obj="user",
        form={"display_name": "Changed", "version": 1},
    ),
    Route(
        "api_directory.users_password",
        "POST",
        "/api/v1/users/{obj}/password",
        ADMIN,
        obj="user",
        form={"password": "another long password"},
    ),
    Route("api_directory.users_sign_out", "POST", "/api/v1/users/{obj}/sign-out", ADMIN, obj="user"),
    Route("settings_api.settings_get", "GET", "/api/v1/settings", SETTINGS_READERS),
    Route(
        "settings_api.settings_update",
        "PATCH",
        "/api/v1/settings",
        ADMIN,
        form={"mfa_required_roles": ["admin", "leader"], "scan_allowed_networks": ["127.0.0.0/24"]},
        city_only="setting.denied",
    ),
    Route("api_audit.audit_list", "GET", "/api/v1/audit", AUDIT_READERS),
    Route("api_audit.audit_verify", "GET", "/api/v1/audit/verify", AUDIT_READERS),
]


# Each package's routes: tests/matrix_<package>.py defines ROUTES.
for _module in sorted(Path(__file__).parent.glob("matrix_*.py")):
    ROUTES += importlib.import_module(_module.stem).ROUTES


# --- the world every case starts from ---------------------------------------------------------

_HASH = auth.hash_password(PASSWORD)
_SYSTEM = Actor.system("cli")


def _dept(session: Session, code: str, kind: str, parent: Department | None) -> Department:
    dept = Department(code=code, name=code.upper(), kind=kind, parent_id=parent.id if parent else None)
    session.add(dept)
    session.flush()
    dept.path = f"{parent.path if parent else '/'}{dept.id}/"
    return dept


def _user(session: Session, username: str, dept: Department, roles: list[str], mfa: bool = False) -> User:
    user = User(
        username=username,
        department_id=dept.id,
        password_hash=_HASH,
        totp_secret=pyotp.random_base32() if mfa else None,
    )
    user.role_rows = [UserRole(role=r) for r in roles]
    session.add(user)
    session.flush()
    return user


def _token(session: Session, user: User) -> int:
    token = ApiToken(user_id=user.id, name="t", prefix="sgv_x", token_hash=f"{user.id:064d}")
    session.add(token)
    session.flush()
    return token.id


# The world as built for each database (by URL), its rows saved: see `world`.
_SAVED_WORLDS: dict[str, tuple[SavedRows, dict]] = {}


@pytest.fixture
def world(app, session):
    """city > a > a1, city > b; one user per role in bureau a (admins with TOTP); victims; and the
    objects of every kind in scope and out of it (see the _*_world builders below).

    Built once per database in a run, on the first test's emptied database, exactly as one test
    would build it; its rows are then saved (tests/saved_rows.py) and every later test, on the
    database the `app` fixture has emptied, gets them written back verbatim (same ids, same audit
    chain) and the same dict, its users read again in the test's session. The world's times are
    relative to the build (a drill planned in 10 days, one running since 7 days ago, scan
    authorizations valid for 300 days, a timeline entry a day old): a run lasts well under an
    hour, so they hold for every test of it. The build writes nothing outside the database (no
    file, no checkpoint under the test's tmp_path, no cache that the rows do not restore)."""
    engine = app.extensions["secgov_engine"]
    url = url_of(engine)
    if url in _SAVED_WORLDS:
        saved, ids = _SAVED_WORLDS[url]
        saved.restore(engine)
    else:
        ids = _ids_of(_build_world(app, session))
        _SAVED_WORLDS[url] = (SavedRows.take(engine), ids)
    return {
        "users": {role: session.get(User, user_id) for role, user_id in ids["users"].items()},
        "root_admin": session.get(User, ids["root_admin"]),
        "other_token": ids["other_token"],
        "own_tokens": dict(ids["own_tokens"]),
        "own_actions": dict(ids["own_actions"]),
        "objects": copy.deepcopy(ids["objects"]),
    }


def _ids_of(world: dict) -> dict:
    """The world with its users replaced by their ids (what a later test's world is read from)."""
    return {
        **copy.deepcopy({key: value for key, value in world.items() if key not in ("users", "root_admin")}),
        "users": {role: user.id for role, user in world["users"].items()},
        "root_admin": world["root_admin"].id,
    }


def _build_world(app, session: Session) -> dict:
    """The world, built through the factories, the services and plain rows."""
    city = _dept(session, "city", "city", None)
    a = _dept(session, "a", "bureau", city)
    a1 = _dept(session, "a1", "unit", a)
    b = _dept(session, "b", "bureau", city)
    users = {role: _user(session, f"{role}.a", a, [role], mfa=(role == "admin")) for role in ROLES}
    root_admin = _user(session, "admin.city", city, ["admin"], mfa=True)
    victim_in = _user(session, "victim.a1", a1, ["officer"])
    victim_b_id = _user(session, "victim.b", b, ["officer"]).id
    other_token = _token(session, victim_in)
    own_tokens = {role: _token(session, user) for role, user in users.items()}
    objects = {kind: dict(values) for kind, values in OBJECTS.items()}
    session.commit()
    objects.update(_asset_world(app, "a1", "b", victim_in.username))
    objects.update(_assessment_world(session, objects["asset"], victim_in.username))
    objects.update(_jobs_world(session, victim_in, session.get(User, victim_b_id)))
    objects.update(_reports_world(session, victim_in, session.get(User, victim_b_id)))
    objects.update(_scans_world(session, objects["asset"], {"in": a1.id, "out": b.id}))
    objects.update(_scan_schedule_world(session, objects["asset"]))
    objects.update(_drills_world(session, objects["asset"], {"in": (a1.id, victim_in.id), "out": (b.id, victim_b_id)}))
    objects.update(_calendar_world(session, [*users.values(), victim_in]))
    own_actions = _own_actions(session, objects, users)
    return {
        "users": users,
        "root_admin": root_admin,
        "other_token": other_token,
        "own_tokens": own_tokens,
        "own_actions": own_actions,
        "objects": objects,
    }


def _asset_world(app, inside: str, outside: str, owner: str) -> dict:
    """An asset in scope and one out of it, each with a foreign builder (a vendor of bureau a) and
    a pending exemption; a vendor of bureau b, which bureau a reads and engages but cannot change."""
    vendor = factories.make_vendor(app, "Overseas Systems Ltd", "foreign", "US", department="a")
    others = factories.make_vendor(app, "Southern Networks Ltd", "foreign", "DE", department="b")
    made = {}
    for where, dept in (("in", inside), ("out", outside)):
        asset = factories.make_asset(
            app, f"A-{where.upper()}", dept, "transport", owner=owner, mlps_level=2, mlps_filing_number="F-1"
        )
        engagement = factories.engage(app, asset, vendor, "builder")
        exemption = factories.exempt(app, engagement, status="pending", requested_by="test")
        made[where] = (asset, engagement, exemption)
    (a_in, e_in, x_in), (a_out, e_out, x_out) = made["in"], made["out"]
    return {
        "asset": {"in": str(a_in.id), "out": str(a_out.id), "missing": "999999"},
        "vendor": {"in": str(vendor.id), "out": str(others.id), "missing": "999999"},
        "engagement": {
            "in": f"{a_in.id}/vendors/{e_in.id}",
            "out": f"{a_out.id}/vendors/{e_out.id}",
            "missing": f"{a_in.id}/vendors/999999",
        },
        "exemption": {"in": str(x_in.id), "out": str(x_out.id), "missing": "999999"},
        # The web pages' form of an engagement path, and a bare engagement id (for bodies).
        "engagement_page": {
            "in": f"{a_in.id}/engagements/{e_in.id}",
            "out": f"{a_out.id}/engagements/{e_out.id}",
            "missing": f"{a_in.id}/engagements/999999",
        },
        "engagement_id": {"in": str(e_in.id), "out": str(e_out.id), "missing": "999999"},
    }


def _assessment_world(session: Session, assets: dict, author: str) -> dict:
    """On each asset (in scope and out of it): a finished draft assessment with a finding, a
    submitted assessment, and a very-low risk (which an officer may accept); plain rows, written
    by someone other than the world's users."""
    made = {}
    for where in ("in", "out"):
        asset_id = int(assets[where])
        dates = {"started_on": date(2025, 1, 6), "finished_on": date(2025, 1, 20), "created_by": author}
        draft = Assessment(asset_id=asset_id, kind="self_inspection", **dates)
        submitted = Assessment(
            asset_id=asset_id, kind="ad_hoc", status="submitted", submitted_by=author,
            submitted_at=datetime.now(UTC), **dates,
        )  # fmt: skip
        risk = Risk(
            asset_id=asset_id, title="Power cut", likelihood=1, impact=1, level="very_low", created_by=author,
            created_on=date(2025, 1, 20),
        )  # fmt: skip
        session.add_all([draft, submitted, risk])
        session.flush()
        finding = AssessmentFinding(assessment_id=draft.id, title="No backups")
        session.add(finding)
        session.flush()
        made[where] = (draft.id, finding.id, submitted.id, risk.id)
    session.commit()
    (d_in, f_in, s_in, r_in), (d_out, f_out, s_out, r_out) = made["in"], made["out"]
    return {
        "assessment": {"in": str(d_in), "out": str(d_out), "missing": "999999"},
        "assessment_submitted": {"in": str(s_in), "out": str(s_out), "missing": "999999"},
        "finding": {
            "in": f"{d_in}/findings/{f_in}",
            "out": f"{d_out}/findings/{f_out}",
            "missing": f"{d_in}/findings/999999",
        },
        "finding_id": {"in": str(f_in), "out": str(f_out), "missing": "999999"},
        "risk": {"in": str(r_in), "out": str(r_out), "missing": "999999"},
    }


def _scan_schedule_world(session: Session, assets: dict) -> dict:
    """A scan schedule of the asset in scope and one of the asset out of it (plain rows)."""
    made = {}
    for where in ("in", "out"):
        asset = session.get(Asset, int(assets[where]))
        row = ScanSchedule(name="weekly", department_id=asset.department_id, asset_id=asset.id, created_by="test")
        session.add(row)
        session.flush()
        made[where] = str(row.id)
    session.commit()
    return {"scan_schedule": {**made, "missing": "999999"}}


def _jobs_world(session: Session, inside: User, outside: User) -> dict:
    """A run asked for in bureau a's unit and one in bureau b; a schedule (city-wide)."""
    made = {}
    for where, user in (("in", inside), ("out", outside)):
        run = runs.enqueue(session, Actor.of(user, "cli"), SYSTEM_CHECK, {})
        made[where] = str(run.id)
    data = schedules.ScheduleIn(kind="system.check", interval_seconds=3600)
    schedule = schedules.create(session, _SYSTEM, data, {"system.check": SYSTEM_CHECK}, timezone="UTC", min_seconds=60)
    session.commit()
    return {
        "run": {**made, "missing": "999999"},
        "schedule": {"in": str(schedule.id), "out": str(schedule.id), "missing": "999999"},
    }


def _reports_world(session: Session, inside: User, outside: User) -> dict:
    """A rendered report of bureau a's unit and one of bureau b (a stand-in file each)."""
    made = {}
    for where, user in (("in", inside), ("out", outside)):
        report = Report(
            department_id=user.department_id,
            period_from=date(2026, 11, 1),
            period_to=date(2026, 11, 30),
            requested_by=user.username,
            requested_by_id=user.id,
            status="succeeded",
            sha256="0" * 64,
        )
        session.add(report)
        session.flush()
        session.add(ReportFile(report_id=report.id, data=b"%PDF-1.7 stand-in"))
        session.add(
            ReportAttachment(
                report_id=report.id,
                name="registers.csv",
                media_type="text/csv",
                sha256="1" * 64,
                size=2,
                rows=0,
                data=b"x\n",
            )
        )
        made[where] = str(report.id)
    session.commit()
    return {"report": {**made, "missing": "999999"}}


def _scans_world(session: Session, assets: dict, departments: dict) -> dict:
    """Per side: a pending scan authorization asked for by officer.a (leaders decide on it, its
    requester revokes it), an imported scan with its XML and an open finding."""
    made = {}
    for where in ("in", "out"):
        now = datetime.now(UTC)
        grant = ScanAuthorization(
            department_id=departments[where], scope=["127.0.0.1"], purpose="Check", requested_by="officer.a",
            valid_from=now, valid_until=now + timedelta(days=300),
        )  # fmt: skip
        scan = Scan(asset_id=int(assets[where]), source="import", status="succeeded", targets=["127.0.0.1"])
        session.add_all([grant, scan])
        session.flush()
        result = ingest.pack(b'<?xml version="1.0"?><nmaprun/>')
        result.scan_id = scan.id
        finding = ScanFinding(
            asset_id=scan.asset_id, scan_id=scan.id, kind="unexpected_service", host="127.0.0.1", port=23,
            protocol="tcp", severity="high",
        )  # fmt: skip
        session.add_all([result, finding])
        session.flush()
        made[where] = (grant.id, scan.id, finding.id)
    session.commit()
    return {
        kind: {"in": str(made["in"][i]), "out": str(made["out"][i]), "missing": "999999"}
        for i, kind in enumerate(("scan_authorization", "scan", "scan_finding"))
    }


def _drills_world(session: Session, assets: dict, sides: dict) -> dict:
    """Per side (department, victim): a planned drill of the side's asset led by the victim, a
    completed one (its after-action report waiting for a leader) with a timeline entry, a
    corrective action of the completed drill owned by the victim (due in 30 days), an open request
    for a drill, and a drill in progress."""
    made = {}
    now = datetime.now(UTC).replace(microsecond=0)
    for where, (dept_id, victim_id) in sides.items():
        common = dict(department_id=dept_id, exercise_type="tabletop", incident_grade="II", lead_id=victim_id,
                      duration_minutes=60, created_by="drill_team.a", report_deadline_minutes=240)  # fmt: skip
        planned = Drill(title="Planned", planned_start=now + timedelta(days=10), **common)
        done = Drill(
            title="Held", planned_start=now - timedelta(days=3), status="completed", started_at=now - timedelta(days=3),
            ended_at=now - timedelta(days=3) + timedelta(hours=1), completed_at=now - timedelta(days=2), **common,
        )  # fmt: skip
        request = DrillRequest(department_id=dept_id, title="Please drill", due_by=(now + timedelta(days=40)).date(),
                               requested_by="leader.a")  # fmt: skip
        session.add_all([planned, done, request])
        session.flush()
        session.add_all(
            [
                DrillAsset(drill_id=planned.id, asset_id=int(assets[where])),
                DrillAsset(drill_id=done.id, asset_id=int(assets[where])),
                DrillObjective(drill_id=done.id, text="Detect"),
            ]
        )
        action = CorrectiveAction(
            drill_id=done.id, department_id=dept_id, title="Fix", owner_id=victim_id,
            due_date=(now + timedelta(days=30)).date(), created_by="drill_team.a",
        )  # fmt: skip
        session.add(action)
        session.flush()
        # Started a week ago: a timeline entry of a day ago (tests/matrix_drills.py) falls inside it
        # however long the matrix runs.
        running = Drill(title="Running", planned_start=now - timedelta(days=7), status="in_progress",
                        started_at=now - timedelta(days=7), **common)  # fmt: skip
        entry = DrillTimelineEntry(drill_id=done.id, at=done.started_at + timedelta(minutes=5), text="Alarm",
                                   created_by="drill_team.a")  # fmt: skip
        session.add_all([running, entry])
        session.flush()
        made[where] = (planned.id, done.id, action.id, request.id, running.id, f"{done.id}/timeline/{entry.id}")
    session.commit()
    kinds = ("drill", "drill_completed", "corrective_action", "drill_request", "drill_running", "drill_entry")
    objects = {
        kind: {"in": str(made["in"][i]), "out": str(made["out"][i]), "missing": "999999"}
        for i, kind in enumerate(kinds)
    }
    objects["drill_entry"]["missing"] = f"{made['in'][1]}/timeline/999999"
    # The action a route's caller owns ("OWN": each role's own, of the completed drill in scope);
    # outside: the victim's of the other side.
    objects["own_action"] = {"in": "OWN", "out": str(made["out"][2]), "missing": "999999"}
    return objects


def _own_actions(session: Session, objects: dict, users: dict) -> dict:
    """Per role, a corrective action of the completed drill in scope owned by that role's user."""
    drill = session.get(Drill, int(objects["drill_completed"]["in"]))
    rows = {
        role: CorrectiveAction(
            drill_id=drill.id,
            department_id=user.department_id,
            title=f"Own {role}",
            owner_id=user.id,
            due_date=drill.planned_start.date() + timedelta(days=40),
            created_by="drill_team.a",
        )
        for role, user in users.items()
    }
    session.add_all(rows.values())
    session.commit()
    return {role: row.id for role, row in rows.items()}


def _calendar_world(session: Session, users: list[User]) -> dict:
    """A live calendar feed for each user (the last one's token is the path's object: anyone
    holding it reads the feed; an unknown token is not found)."""
    for user in users:
        token = f"{feeds.PREFIX}matrix{user.id:040d}"
        session.add(CalendarFeed(user_id=user.id, prefix=token[:12], token_hash=feeds._digest(token)))
    session.commit()
    return {"calendar_feed": {"in": token, "out": token, "missing": f"{feeds.PREFIX}{'0' * 43}"}}


# Bookkeeping that legitimately changes on any authenticated call.
VOLATILE = {("api_token", "last_used_at"), ("user", "last_login_at")}


@functools.cache
def _compared(url: str) -> tuple[tuple[str, str], ...]:
    """Per table compared, the query that reads its rows: built once per database."""
    queries = []
    for table, columns in schema(url).columns.items():
        if table in {"alembic_version", "audit_entry"}:
            continue
        names = ", ".join(f'"{c}"' for c in columns if (table, c) not in VOLATILE)
        queries.append((table, f'SELECT {names} FROM "{table}"'))  # noqa: S608 - names from the schema
    return tuple(queries)


def snapshot(session: Session) -> dict:
    """Every row of every table except the audit log, for before/after comparisons."""
    session.rollback()  # end the read transaction: see what the requests committed
    return {
        table: sorted(map(tuple, session.execute(text(query)).all()), key=repr)
        for table, query in _compared(url_of(session.get_bind()))
    }


def audit_count(session: Session, action: str) -> int:
    session.rollback()  # end the read transaction: see what the requests committed
    return len(session.exec(select(AuditEntry).where(AuditEntry.action == action)).all())


# A body value "{kind[where]}" names an object of the world, e.g. {"vendor_id": "{vendor[in]}"}.
BODY_REF = re.compile(r"\{(\w+)\[(in|out|missing)\]\}")


def resolve_body(body: dict, objects: dict | None) -> dict:
    """The body with its references to world objects replaced by their ids."""
    if not objects:
        return body

    def one(value):
        match = BODY_REF.fullmatch(value) if isinstance(value, str) else None
        return objects[match[1]][match[2]] if match else value

    return {key: one(value) for key, value in body.items()}


class Caller:
    """Sends one route's request as a signed-in user (web with CSRF token, or API with a token)."""

    def __init__(self, app, user: User | None, token: str | None, objects: dict | None = None):
        self.client = app.test_client()
        self.token = token
        self.objects = objects
        self.csrf = None
        if user is not None and token is None:
            response = login(self.client, user)
            assert response.status_code == 302, "sign-in failed"
        page = self.client.get("/login" if user is None else "/account")
        match = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
        self.csrf = match.group(1) if match else None

    def send(self, route: Route, path: str, body: dict | None):
        response = self.open(route, path, body)
        response.get_data()  # buffer the body, then release files such as static ones
        response.close()
        return response

    def open(self, route: Route, path: str, body: dict | None, **options):
        """The response to the route's request, as the client gives it (options such as
        buffered=False go to the client)."""
        body = resolve_body(route.form if body is None else body, self.objects)
        uploads = {name: (io.BytesIO(content), filename) for name, (filename, content) in route.files.items()}
        if route.api:
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            kwargs = {"json": body} if route.method in {"POST", "PATCH", "PUT"} else {}
            if uploads:
                kwargs = {"data": {**body, **uploads}}
            return self.client.open(path, method=route.method, headers=headers, **kwargs, **options)
        if route.method == "GET":
            return self.client.get(path, **options)
        return self.client.open(path, method=route.method, data={**body, **uploads, "csrf_token": self.csrf}, **options)


def _path(route: Route, world, role: str, where: str) -> str:
    if route.obj is None:
        return route.path
    value = world["objects"][route.obj][where]
    if value == "OWN":
        value = str((world["own_actions"] if route.obj == "own_action" else world["own_tokens"])[role])
    elif value == "OTHER":
        value = str(world["other_token"])
    return route.path.format(obj=value)


def _caller(app, session, world, role: str, api: bool, user: User | None = None) -> Caller:
    user = user or world["users"][role]
    if api:
        with app.test_request_context():
            _t, plain = auth.create_token(session, user, "matrix", _SYSTEM)
            session.commit()
        return Caller(app, user, plain, world["objects"])
    return Caller(app, user, None, world["objects"])


def allowed(route: Route, role: str) -> bool:
    return route.access in (PUBLIC, AUTHENTICATED) or role in route.access


# --- the tests -----------------------------------------------------------------------------------


def test_every_rule_declares_access(app):
    missing = [rule.rule for rule in app.url_map.iter_rules() if declaration(app.view_functions[rule.endpoint]) is None]
    assert missing == [], f"rules without an access declaration: {missing}"


def test_every_route_is_in_the_matrix(app):
    declared = {(r.endpoint, m) for r in app.url_map.iter_rules() for m in r.methods - {"HEAD", "OPTIONS"}}
    covered = {(r.endpoint, r.method) for r in ROUTES}
    assert declared - covered == set(), "add these routes to ROUTES"
    assert covered - declared == set(), "ROUTES names routes that do not exist"


def test_matrix_declarations_match_the_code(app):
    """The matrix states the intended access; the code must say the same."""
    for route in ROUTES:
        assert declaration(app.view_functions[route.endpoint]) == route.access, str(route)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_role_route(app, session, world, route: Route, role: str):
    caller = _caller(app, session, world, role, route.api)
    denied_before = audit_count(session, "authz.denied")
    if not allowed(route, role):
        before = snapshot(session)
        response = caller.send(route, _path(route, world, role, "in"), None)
        assert response.status_code == 403, f"{route} as {role}: {response.status_code}"
        assert snapshot(session) == before, "a denied request changed the database"
        assert audit_count(session, "authz.denied") == denied_before + 1, "the denial was not audited"
        if route.api:
            assert response.json["error"]["code"] == "forbidden"
        return
    if route.obj is not None:
        for where in ("missing",) if route.no_scope else ("missing", "out"):
            before = snapshot(session)
            audit_before = audit_count(session, route.out_audit) if route.out_audit else 0
            response = caller.send(route, _path(route, world, role, where), None)
            expected = 404 if where == "missing" else route.out_status
            assert response.status_code == expected, f"{route} as {role} on a {where} object: {response.status_code}"
            assert snapshot(session) == before, f"a request on a {where} object changed the database"
            if where == "out" and route.out_audit:
                assert audit_count(session, route.out_audit) == audit_before + 1, f"{route.out_audit} was not audited"
    if route.out_of_scope_body is not None:
        before = snapshot(session)
        response = caller.send(route, _path(route, world, role, "in"), route.out_of_scope_body)
        assert response.status_code == route.out_of_scope_status, f"{route} as {role} with an out-of-scope body"
        assert snapshot(session) == before
    if route.city_only:
        # Bureau a's member may use the route, but the setting is the whole city's: refused.
        before = snapshot(session)
        refusals = audit_count(session, route.city_only)
        response = caller.send(route, _path(route, world, role, "in"), None)
        assert response.status_code == 403, f"{route} as {role} of a bureau: {response.status_code}"
        assert snapshot(session) == before, "a bureau's refused request changed the database"
        assert audit_count(session, route.city_only) == refusals + 1, "the refusal was not audited"
        # The city's member with the role (the root department's administrator, given the role
        # when it is another: a leader closes the city's appraisal).
        city_user = world["root_admin"]
        if role not in city_user.roles:
            session.add(UserRole(user_id=city_user.id, role=role))
            session.commit()
            session.refresh(city_user)
        caller = _caller(app, session, world, role, route.api, user=city_user)
        before = snapshot(session)  # after the caller's token: the route itself must change something
    response = caller.send(route, _path(route, world, role, "in"), None)
    assert response.status_code < 500
    assert response.status_code not in (401, 403, 404, 405), f"{route} as {role}: {response.status_code}"
    if route.city_only:
        assert snapshot(session) != before, f"{route} as the city's {role} changed nothing"


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_anonymous(app, session, world, route: Route):
    caller = Caller(app, None, None, world["objects"])
    before = snapshot(session)
    role_for_path = "officer"
    response = caller.send(route, _path(route, world, role_for_path, "in"), None)
    assert response.status_code < 500
    if route.access == PUBLIC:
        # Open to anyone: a wrong password may answer 401, but never "forbidden" or "missing".
        assert response.status_code not in (403, 404)
        return
    if route.api:
        assert response.status_code == 401
        assert response.json["error"]["code"] == "unauthorized"
    else:
        assert response.status_code == 302
        assert "/login" in response.headers["Location"]
    assert snapshot(session) == before


# --- a 404 does not tell whether the id exists -------------------------------------------------

# The kinds of object a path names whose scope is checked (vendors have no department).
SCOPED_KINDS = (
    "asset", "engagement", "engagement_page", "exemption", "user", "dept", "token", "run", "report",
    "assessment", "assessment_submitted", "finding", "risk", "scan_authorization", "scan", "scan_finding",
    "scan_schedule", "drill", "drill_completed", "drill_running", "drill_entry", "corrective_action", "own_action",
    "drill_request",
)  # fmt: skip
SCOPED_ROUTES = [r for r in ROUTES if r.obj in SCOPED_KINDS and not r.no_scope]


class Statements:
    """The SQL statements an engine runs (parameters left out), from the moment it is made."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.seen: list[str] = []
        event.listen(engine, "before_cursor_execute", self._note)

    def _note(self, _conn, _cursor, statement, _parameters, _context, _executemany) -> None:
        self.seen.append(" ".join(statement.split()))

    def take(self) -> list[str]:
        """The statements run since the last take."""
        taken, self.seen = self.seen, []
        return taken

    def remove(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._note)


def _audit_inserts(statements: list[str]) -> list[str]:
    return [s for s in statements if s.upper().startswith("INSERT INTO AUDIT_ENTRY")]


def test_every_scoped_kind_is_compared():
    assert {r.obj for r in SCOPED_ROUTES} == set(SCOPED_KINDS)


@pytest.mark.parametrize("route", SCOPED_ROUTES, ids=str)
def test_missing_and_out_of_scope_run_the_same_statements(app, session, world, route: Route):
    """Until the answer is made, an id outside the caller's scope runs exactly the statements of
    an id that does not exist; the refusal's audit entry is written once the response is closed
    (after the server has sent it), exactly once. Timing then cannot tell the two apart."""
    role = next(r for r in ROLES if allowed(route, r))
    caller = _caller(app, session, world, role, route.api)
    caller.send(route, _path(route, world, role, "missing"), None)  # first use of the token noted
    statements = Statements(app.extensions["secgov_engine"])
    runs = {}
    try:
        for where in ("out", "missing"):
            statements.take()
            response = caller.open(route, _path(route, world, role, where), None, buffered=False)
            answered = statements.take()
            assert response.status_code == 404, f"{route} on a {where} object: {response.status_code}"
            response.close()
            runs[where] = (answered, statements.take())
    finally:
        statements.remove()
    (out_answered, out_closed), (missing_answered, missing_closed) = runs["out"], runs["missing"]
    assert out_answered == missing_answered
    assert out_answered, "the look-up ran no statement"
    assert _audit_inserts(out_answered) == []
    assert len(_audit_inserts(out_closed)) == 1, out_closed
    assert missing_closed == []


def test_a_refusal_that_cannot_be_recorded_is_logged(app, session, world, monkeypatch, caplog):
    """After the answer nobody waits for the audit record: if it fails, the log keeps the refusal."""
    route = next(r for r in ROUTES if r.endpoint == "assets.detail")
    caller = _caller(app, session, world, "officer", api=False)

    def broken(_engine, _refusals):
        raise OperationalError("INSERT INTO audit_entry", {}, Exception("disk I/O error"))

    monkeypatch.setattr(audit, "record_refusals", broken)
    before = audit_count(session, "authz.out_of_scope")
    with caplog.at_level(logging.ERROR, logger="secgov"):
        response = caller.send(route, _path(route, world, "officer", "out"), None)
    assert response.status_code == 404
    assert audit_count(session, "authz.out_of_scope") == before
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    message = record.getMessage()
    assert "authz.out_of_scope" in message and "officer.a" in message
    assert f"asset {world['objects']['asset']['out']}" in message
    assert record.exc_info is not None
