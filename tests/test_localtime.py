"""One rule for times: pages show the city's local time with its zone, the API and the exports
give ISO 8601 with an offset, and a time without a zone is refused."""

from __future__ import annotations

import csv
import io
import re
import typing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from factories import load_demo_city
from helpers import login
from openpyxl import load_workbook
from pydantic import BaseModel
from sqlmodel import select
from test_audit import recorded_at

from assets.models import Asset, Vendor
from assets.schemas import VendorUpdate
from drills import actions, services
from drills.schemas import (
    ActionCreate,
    ActionUpdate,
    CommentCreate,
    DrillComplete,
    DrillCreate,
    DrillStart,
    TimelineCreate,
)
from secgov import audit, auth, domains, localtime
from secgov.authz import Actor
from secgov.codes import N_
from secgov.config import ServiceConfig
from secgov.exchange import Column, Register
from secgov.exchange.exporting import export
from secgov.models import AuditEntry
from secgov.scheduler import Scheduler

ROOT = Path(__file__).resolve().parent.parent
OFFSET = re.compile(r"T\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d$")
MOMENT = datetime(2024, 1, 10, 23, 30, tzinfo=UTC)


@pytest.mark.nodb
@pytest.mark.parametrize(
    ("tz", "shown", "seconds"),
    [
        ("Asia/Shanghai", "2024-01-11 07:30 UTC+8", "2024-01-11 07:30:00 UTC+8"),
        ("UTC", "2024-01-10 23:30 UTC", "2024-01-10 23:30:00 UTC"),
        ("Europe/Berlin", "2024-01-11 00:30 UTC+1", "2024-01-11 00:30:00 UTC+1"),
        ("America/St_Johns", "2024-01-10 20:00 UTC-3:30", "2024-01-10 20:00:00 UTC-3:30"),
        ("Asia/Kolkata", "2024-01-11 05:00 UTC+5:30", "2024-01-11 05:00:00 UTC+5:30"),
    ],
)
def test_a_moment_is_shown_in_the_zone_with_the_zone_named(tz, shown, seconds):
    assert localtime.shown(MOMENT, tz) == shown
    assert localtime.shown(MOMENT.isoformat(), tz, seconds=True) == seconds  # the audit log's text


@pytest.mark.nodb
def test_times_without_a_zone_are_refused_and_days_begin_locally():
    with pytest.raises(ValueError, match="without a time zone"):
        localtime.shown(datetime(2024, 1, 10, 9), "Asia/Shanghai")
    with pytest.raises(ValueError, match="without a time zone"):
        localtime.instant("2024-01-10T09:00:00")
    assert localtime.utc_text(datetime(2024, 7, 1, 8, tzinfo=localtime.zone("Asia/Shanghai"))) == (
        "2024-07-01T00:00:00+00:00"
    )
    assert localtime.exported(MOMENT, "Asia/Shanghai") == "2024-01-11T07:30:00+08:00"
    assert localtime.day_start(date(2024, 1, 11), "Asia/Shanghai") == datetime(2024, 1, 10, 16, tzinfo=UTC)


@pytest.mark.nodb
def test_templates_show_times_only_through_the_localtime_filter():
    """The pages' one rule is kept by construction: no template formats a time another way."""
    offenders = []
    for path in sorted((ROOT / "templates").rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        for pattern in (r"\|\s*datetimeformat", r"\|\s*timeformat", r"_at\s*\[", r"_at\s*\|\s*(?!localtime)\w+"):
            offenders += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in re.finditer(pattern, text)]
    assert not offenders, offenders


def _bare(annotation) -> object:
    return typing.get_args(annotation)[0] if typing.get_origin(annotation) is typing.Annotated else annotation


def _datetime_fields(model: type[BaseModel]) -> list[str]:
    """The fields holding a datetime (alone, or with None)."""
    return [
        name
        for name, info in model.model_fields.items()
        if datetime in {_bare(info.annotation), *(_bare(a) for a in typing.get_args(info.annotation))}
    ]


def _subclasses(cls: type) -> list[type]:
    return [cls, *(sub for child in cls.__subclasses__() for sub in _subclasses(child))]


@pytest.mark.nodb
def test_every_time_in_the_api_schemas_is_an_instant():
    """A plain `datetime` in an answer would be written without a zone if it were naive:
    every schema of the application uses `localtime.Instant`, which refuses one."""
    domains.registry()  # every domain's schemas imported
    packages = ("secgov", *(d.name for d in domains.registry().domains))
    checked, plain = 0, []
    for model in _subclasses(BaseModel):
        if not model.__module__.startswith(packages) or getattr(model, "__tablename__", None):
            continue
        for name in _datetime_fields(model):
            checked += 1
            metadata = [*model.model_fields[name].metadata]
            for arg in typing.get_args(model.model_fields[name].annotation):
                metadata += getattr(arg, "__metadata__", ())
            if not any(m in typing.get_args(localtime.Instant)[1:] for m in metadata):
                plain.append(f"{model.__module__}.{model.__name__}.{name}")
    assert checked >= 6
    assert not plain, f"times that are not localtime.Instant: {plain}"


def test_pages_show_the_configured_zone(app, client, session, make_user):
    app.config["BABEL_DEFAULT_TIMEZONE"] = "Europe/Berlin"
    admin = make_user("root.admin", roles=("admin",), mfa=True)
    with recorded_at(MOMENT):
        audit.record(session, Actor(username="zhao", channel="web"), "auth.login", object_type="user", object_id="zhao")
    with app.test_request_context():
        token, _plain = auth.create_token(session, admin, "clock", Actor.system())
    token.created_at = MOMENT
    session.add(token)
    session.commit()
    login(client, admin)
    html = client.get("/audit?actor=zhao").get_data(as_text=True)
    assert "2024-01-11 00:30:00 UTC+1" in html
    assert "UTC+8" not in html
    account = client.get("/account").get_data(as_text=True)
    assert '<time datetime="2024-01-10T23:30:00+00:00">2024-01-11 00:30 UTC+1</time>' in account
    # The date filters read the days of the same zone: 23:30 UTC on the 10th is the 11th in Berlin.
    entry = "<code>auth.login</code>"
    assert entry in client.get("/audit?actor=zhao&since=2024-01-11&until=2024-01-11").get_data(as_text=True)
    assert entry not in client.get("/audit?actor=zhao&until=2024-01-10").get_data(as_text=True)


def _walk(value, found: dict[str, list], names: set[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in names and item is not None:
                found.setdefault(key, []).append(item)
            _walk(item, found, names)
    elif isinstance(value, list):
        for item in value:
            _walk(item, found, names)


def _openapi_times(document: dict) -> set[str]:
    """Every property of the API's answers that the document says is a date-time."""
    names = set()

    def walk(node):
        if isinstance(node, dict):
            for name, schema in (node.get("properties") or {}).items():
                options = [schema, *schema.get("anyOf", [])]
                if any(option.get("format") == "date-time" for option in options):
                    names.add(name)
            for item in node.values():
                walk(item)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(document.get("components", {}))
    return names


def test_every_time_the_api_gives_carries_an_offset(app, client, session, api_token):
    load_demo_city(app)
    with app.test_request_context():
        vendor = session.exec(select(Vendor).where(Vendor.origin == "domestic")).first()
        from assets import vendors

        vendors.update_vendor(
            session,
            vendor,
            VendorUpdate(origin="foreign", country="US", version=vendor.version),
            Actor.system(),
            ServiceConfig(),
        )
        session.commit()
    from secgov.models import User

    admin = session.exec(select(User).where(User.username == "admin")).one()
    admin.last_login_at = datetime.now(UTC)
    session.add(admin)
    session.commit()
    headers = {"Authorization": f"Bearer {api_token(admin)}"}
    # A scheduled run, done: every time of a run and of its schedule has a value.
    created = client.post(
        "/api/v1/schedules", json={"kind": "system.check", "interval_seconds": 3600}, headers=headers
    ).get_json()
    Scheduler(app).fire(created["id"], datetime.now(UTC).replace(microsecond=0))
    # The admin's calendar feed, read once by a calendar program: its times have values.
    feed = client.post("/api/v1/calendar-feed", headers=headers).get_json()
    assert client.get(urlsplit(feed["url"]).path).status_code == 200
    names = _openapi_times(client.get("/api/v1/openapi.json").get_json())
    assert {"created_at", "updated_at", "requested_at", "decided_at", "last_login_at", "at"} <= names
    found: dict[str, list] = {}
    for path in (
        "/api/v1/users?page_size=200",
        "/api/v1/assets?page_size=200",
        "/api/v1/vendor-exemptions?page_size=200",
        "/api/v1/compliance/vendor-origin",
        "/api/v1/audit?page_size=50",
        "/api/v1/jobs",
        "/api/v1/schedules",
        "/api/v1/scans?page_size=200",
        "/api/v1/findings?page_size=200",
        "/api/v1/scan-authorizations?page_size=200",
        "/api/v1/calendar-feed",
        "/api/v1/accountability/assignments?duty=department.head&page_size=200",  # a replaced head's term has ended
        "/api/v1/appraisal",  # this quarter's, as of now
        *_assessment_paths(session),
        *_drill_paths(app, session),
    ):
        response = client.get(path, headers=headers)
        assert response.status_code == 200, (path, response.get_data(as_text=True)[:300])
        _walk(response.get_json(), found, names)
    assert set(found) == names, f"date-time fields no answer gave a value for: {names - set(found)}"
    bad = {name: value for name, values in found.items() for value in values if not OFFSET.search(value)}
    assert not bad, bad


def _assessment_paths(session) -> list[str]:
    """The demo's assessments and risks: an approved assessment (submitted and decided), closed
    and accepted risks, and the acceptances of a risk whose acceptance lapsed (ended)."""
    from assessments.models import Assessment, RiskAcceptance

    approved = session.exec(select(Assessment.id).where(Assessment.status == "approved")).first()
    lapsed = session.exec(select(RiskAcceptance.risk_id).where(RiskAcceptance.status == "expired")).first()
    return [
        f"/api/v1/assessments/{approved}",
        "/api/v1/risks?page_size=200&status=closed",
        "/api/v1/risks?page_size=200&status=accepted",
        f"/api/v1/risks/{lapsed}/acceptances",
    ]


def _drill_paths(app, session) -> list[str]:
    """A drill held and approved (started, ended, completed, its timeline and a comment), its
    corrective action escalated and then closed, and a drill planned for a CII system not drilled
    yet (a coverage gap with its next drill)."""
    system, config = Actor.system(), ServiceConfig()
    now = datetime.now(UTC).replace(microsecond=0)
    cii = session.exec(select(Asset.code).where(Asset.is_cii).order_by(Asset.code)).first()
    plan = dict(exercise_type="tabletop", incident_grade="II", lead="admin", duration_minutes=60)
    with app.test_request_context():
        held = services.create(
            session, system, DrillCreate(title="Held", planned_start=now - timedelta(days=2), **plan)
        )
        services.start(session, system, held.id, DrillStart(started_at=now - timedelta(days=2)))
        services.add_entry(session, system, held.id, TimelineCreate(at=now - timedelta(days=2), text="Alarm"))
        services.comment(session, system, held.id, CommentCreate(text="Well done"))
        services.complete(
            session, system, held.id, DrillComplete(ended_at=now - timedelta(days=2, minutes=-50)), config
        )
        services.approve_report(session, system, held.id)
        action = actions.create(
            session, system, held.id, ActionCreate(title="Fix", owner="admin", due_date=now.date() - timedelta(days=1)),
            today=now.date() - timedelta(days=1),
        )  # fmt: skip
        actions.escalate(session, system)
        actions.update(session, system, action.id, ActionUpdate(version=1, status="closed"), manager=True)
        services.create(
            session, system, DrillCreate(title="Next", planned_start=now + timedelta(days=9), assets=[cii], **plan)
        )
        session.commit()
    return [
        f"/api/v1/drills/{held.id}",
        "/api/v1/drills?page_size=200",
        "/api/v1/corrective-actions?page_size=200",
        "/api/v1/drills/coverage",
        "/api/v1/drill-requests?page_size=200",
    ]


class _Clock(BaseModel):
    name: str
    at: datetime | None = None


class _ClockQuery(BaseModel):
    page: int = 1
    page_size: int = 50


def _register(rows: list[_Clock]) -> Register:
    return Register(
        name="clocks",
        object_type="clock",
        title=N_("Assets"),
        columns=(Column("name"), Column("at")),
        schema=_Clock,
        key="name",
        check=lambda *a: {},
        create=lambda *a: [],
        undo=lambda *a: None,
        filters=_ClockQuery,
        records=lambda _session, _actor, _filters: iter(rows),
        importers=(),
    )


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_cells_carry_the_offset_of_the_citys_zone(session, fmt):
    register = _register([_Clock(name="moment", at=MOMENT), _Clock(name="none")])
    query = register.export_query(format=fmt)
    result = export(session, register, query, Actor.system(), ServiceConfig(timezone="Asia/Shanghai"), audited=False)
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(result.data.decode("utf-8-sig"))))
    else:
        sheet = load_workbook(io.BytesIO(result.data), read_only=True).active
        rows = [[cell if cell is not None else "" for cell in row] for row in sheet.iter_rows(values_only=True)]
    assert rows[1] == ["moment", "2024-01-11T07:30:00+08:00"]
    assert rows[2] == ["none", ""]
    assert session.exec(select(AuditEntry)).first() is None


def test_export_refuses_a_time_without_a_zone(session):
    register = _register([_Clock(name="naive", at=datetime(2024, 1, 10, 9))])
    with pytest.raises(ValueError, match="without a time zone"):
        export(session, register, register.export_query(format="csv"), Actor.system(), ServiceConfig(), audited=False)
