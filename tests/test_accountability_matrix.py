"""The accountability matrix: rows are the assets in scope by department, a column per declared
duty; each cell's person and state are checked against what the test computes itself from the
records it made (owners, assessment leads and scan owners, risks and their due dates, grading
dates, scan findings, drills), then the filters, the scope, the pages and the number of
statements."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from factories import config_of
from sqlalchemy import event
from sqlmodel import select

from assessments import rule
from assessments.models import Risk
from assets.models import Asset, AssetGrade
from drills.models import Drill, DrillAsset
from scans.models import Scan, ScanFinding
from secgov import domains, responsibility, snapshots
from secgov.accountability import matrix
from secgov.accountability.matrix import Filters
from secgov.authz import Actor
from secgov.models import Department, User

SYSTEM = Actor.system("cli")
REGISTRY = domains.registry()
CODES = [column.code for column in REGISTRY.matrix_columns]


def _at(day: date) -> datetime:
    return datetime.combine(day, time(12), tzinfo=UTC)


def _risk(session, asset: Asset, owner: User, due: date | None, level: str = "moderate", status: str = "open") -> Risk:
    risk = Risk(
        asset_id=asset.id, title=f"Risk of {asset.code}", likelihood=3, impact=3, level=level, due_date=due,
        status=status, created_by="t", created_on=date(2025, 1, 1),
    )  # fmt: skip
    session.add(risk)
    session.flush()
    responsibility.assign(session, "risk", risk.id, "owner", owner, SYSTEM)
    return risk


def _drill(session, asset: Asset, lead: User, *, ended: date | None = None, planned: date | None = None) -> Drill:
    status = "completed" if ended else "planned"
    start = _at(ended or planned)
    drill = Drill(
        department_id=asset.department_id, title="Tabletop", exercise_type="tabletop", incident_grade="II",
        lead_id=lead.id, planned_start=start, duration_minutes=60, status=status, created_by="t",
        started_at=start if ended else None, ended_at=start + timedelta(hours=1) if ended else None,
    )  # fmt: skip
    session.add(drill)
    session.flush()
    session.add(DrillAsset(drill_id=drill.id, asset_id=asset.id))
    responsibility.assign(session, "drill", drill.id, "lead", lead, SYSTEM)
    return drill


def _scan(session, asset: Asset, *found_ago: int, triaged: bool = False) -> None:
    """A succeeded scan of the asset and a finding for each of found_ago (days before now), open
    or triaged."""
    scan = Scan(asset_id=asset.id, profile="quick", status="succeeded", targets=["127.0.0.1"])
    session.add(scan)
    session.flush()
    for n, days in enumerate(found_ago):
        session.add(ScanFinding(
            asset_id=asset.id, scan_id=scan.id, kind="unexpected_service", host="127.0.0.1", port=1000 + n,
            protocol="tcp", severity="medium", status="acknowledged" if triaged else "open",
            created_at=datetime.now(UTC) - timedelta(days=days),
        ))  # fmt: skip


def _graded(session, asset: Asset, on: date) -> None:
    for grade in session.exec(select(AssetGrade).where(AssetGrade.asset_id == asset.id)).all():
        grade.changed_at = _at(on)
        session.add(grade)


@pytest.fixture
def town(app, session, city, make_user, make_asset):
    """The conftest city (a > a1, b) with assets whose every column has something to say."""
    config = config_of(app)
    today = snapshots.local_today(config.timezone)
    users = {u: make_user(u, roles=("officer",), department=d) for u, d in (("lead.a", "a"), ("gone.b", "b"))}
    users.update({"officer.a": city["officer_a"], "officer.b": city["officer_b"]})
    assets = {
        "A-LATE": make_asset("A-LATE", "a", owner="officer.a", mlps_level=3),
        "A1-SOON": make_asset("A1-SOON", "a1", "energy", owner="officer.a"),
        "A-NOBODY": make_asset("A-NOBODY", "a"),
        "B-GONE": make_asset("B-GONE", "b", owner="gone.b"),
        "B-CII": make_asset("B-CII", "b", owner="officer.b"),
        "B-CII-OK": make_asset("B-CII-OK", "b", owner="officer.b"),
        "A-CII-NEW": make_asset("A-CII-NEW", "a", owner="officer.a"),
        "A-OLD": make_asset("A-OLD", "a", owner="officer.a", lifecycle="retired"),
    }
    users = {k: session.merge(u) for k, u in users.items()}
    assets = {k: session.merge(a) for k, a in assets.items()}
    _graded(session, assets["A-LATE"], rule.add_months(today, -40))
    for code in ("A-LATE", "A1-SOON", "B-GONE", "B-CII", "B-CII-OK", "A-NOBODY"):
        assets[code].network_targets = ["127.0.0.1"]
        session.add(assets[code])
    _scan(session, assets["A-LATE"], 10, 2)  # one open finding past its 7 days: overdue
    _scan(session, assets["A1-SOON"], 2)  # within its 7 days: due soon
    _scan(session, assets["B-GONE"])  # scanned, nothing found: on time, but its owner is disabled
    _scan(session, assets["B-CII"], 20, 30, triaged=True)  # every finding triaged: on time
    _scan(session, assets["A-CII-NEW"], 30)  # no network targets (any more), an open finding: overdue
    # B-CII-OK has targets but was never scanned; A-NOBODY neither: nothing due.
    # A-LATE's assessments and scans have someone named; A-CII-NEW's lead's term is over.
    now = datetime.now(UTC)
    responsibility.assign(session, "asset", assets["A-LATE"].id, "assessment_lead", users["lead.a"], SYSTEM)
    responsibility.assign(session, "asset", assets["A-LATE"].id, "scan_owner", users["lead.a"], SYSTEM)
    responsibility.assign(
        session, "asset", assets["A-CII-NEW"].id, "assessment_lead", users["lead.a"], SYSTEM,
        at=now - timedelta(days=40), until=now - timedelta(days=1),
    )  # fmt: skip
    for code in ("B-CII", "B-CII-OK", "A-CII-NEW"):
        assets[code].is_cii = True
        assets[code].cii_designated_on = today - timedelta(days=30)
        session.add(assets[code])
    users["gone.b"].disabled = True
    session.add(users["gone.b"])
    risks = {
        "late": _risk(session, assets["A-LATE"], users["officer.a"], today - timedelta(days=1), level="high"),
        "later": _risk(session, assets["A-LATE"], users["lead.a"], today + timedelta(days=90)),
        "soon": _risk(session, assets["A1-SOON"], users["lead.a"], today + timedelta(days=10)),
        "closed": _risk(session, assets["B-GONE"], users["officer.b"], today - timedelta(days=9), status="closed"),
    }
    drills = {
        "lapsing": _drill(session, assets["B-CII-OK"], users["officer.b"], ended=rule.add_months(today, -12) + timedelta(days=20)),
        "recent": _drill(session, assets["A-CII-NEW"], users["officer.a"], ended=today - timedelta(days=30)),
        "next": _drill(session, assets["A-CII-NEW"], users["lead.a"], planned=today + timedelta(days=60)),
    }  # fmt: skip
    session.commit()
    return {"today": today, "config": config, "users": users, "assets": assets, "risks": risks, "drills": drills}


def _state(due: date, today: date, soon: int) -> str:
    if due < today:
        return "overdue"
    return "due_soon" if (due - today).days <= soon else "on_time"


def expected(session, town) -> dict[str, dict[str, tuple[str, str | None]]]:
    """Each asset's (state, user name) per column, from the records alone."""
    today, config = town["today"], town["config"]
    intervals = rule.method(session, config).intervals
    found: dict[str, dict[str, tuple[str, str | None]]] = {}
    assets = session.exec(select(Asset).where(Asset.lifecycle != "retired")).all()
    tz = ZoneInfo(config.timezone)
    for asset in assets:
        holder = responsibility.holders(session, "asset", [asset.id], "owner").get(asset.id)
        owner = holder.username if holder else None
        active = holder is not None and not holder.disabled
        cells = {"owner": ("on_time" if active else "gap", owner)}
        # The assessment lead and the scan owner named now, else the owner.
        named = {
            duty: responsibility.holders(session, "asset", [asset.id], duty).get(asset.id) or holder
            for duty in ("assessment_lead", "scan_owner")
        }
        # Assessments: never assessed, each kind counts from the grading (CII: the designation).
        dues = []
        if asset.mlps_level is not None:
            graded = session.exec(
                select(AssetGrade.changed_at).where(AssetGrade.asset_id == asset.id).order_by(AssetGrade.changed_at)
            ).first()
            months = [intervals["mlps_evaluation"].get(str(asset.mlps_level)), intervals["self_inspection"]]
            dues += [rule.add_months(graded.date(), m) for m in months if m]
        if asset.is_cii:
            dues.append(rule.add_months(asset.cii_designated_on, intervals["cii_annual"]))
        if dues:
            lead = named["assessment_lead"]
            state = _state(min(dues), today, intervals["due_soon_days"])
            cells["assessment"] = (state if lead and not lead.disabled else "gap", lead.username if lead else None)
        else:
            cells["assessment"] = ("none", None)
        # Scans: open findings, each due 7 days after it was found (the city's calendar).
        seen = session.exec(select(ScanFinding).where(ScanFinding.asset_id == asset.id)).all()
        succeeded = session.exec(select(Scan).where(Scan.asset_id == asset.id, Scan.status == "succeeded")).all()
        deadlines = [(f.created_at + timedelta(days=7)).astimezone(tz).date() for f in seen if f.status == "open"]
        if deadlines:
            state = "overdue" if min(deadlines) < today else "due_soon"
        elif asset.network_targets and (seen or succeeded):
            state = "on_time"
        else:
            state = None
        scanner = named["scan_owner"]
        if state is None:
            cells["scans"] = ("none", None)
        else:
            cells["scans"] = (
                state if scanner and not scanner.disabled else "gap",
                scanner.username if scanner else None,
            )
        # Remediation: live risks; the earliest due one's owner answers.
        live = session.exec(
            select(Risk).where(Risk.asset_id == asset.id, Risk.status.in_(("open", "in_treatment")))
        ).all()
        if live:
            urgent = min(live, key=lambda r: r.due_date or date.max)
            who = responsibility.holders(session, "risk", [urgent.id], "owner")[urgent.id]
            worst = min((_state(r.due_date, today, 30) for r in live if r.due_date), key=matrix.STATES.index)
            cells["remediation"] = (worst, who.username)
        else:
            cells["remediation"] = ("none", None)
        # Drills: CII assets only; covered by a completed drill within the coverage period (12).
        if asset.is_cii:
            ran = session.exec(
                select(Drill).join(DrillAsset, DrillAsset.drill_id == Drill.id).where(DrillAsset.asset_id == asset.id)
            ).all()
            ended = [d.ended_at.date() for d in ran if d.status == "completed"]
            planned = [d for d in ran if d.status == "planned"]
            lead = planned[0] if planned else next((d for d in ran if d.status == "completed"), None)
            who = session.get(User, lead.lead_id).username if lead else None
            if not ended or max(ended) < rule.add_months(today, -12):
                cells["drills"] = ("overdue", who)
            elif max(ended) < rule.add_months(today + timedelta(days=30), -12):
                cells["drills"] = ("due_soon", who)
            else:
                cells["drills"] = ("on_time", who)
        else:
            cells["drills"] = ("none", None)
        found[asset.code] = cells
    return found


def _run(app, session, town, actor=SYSTEM, **filters):
    page = filters.pop("page", 1)
    page_size = filters.pop("page_size", 50)
    with app.test_request_context():
        return matrix.matrix(
            session, actor, town["config"], REGISTRY.matrix_rows, REGISTRY.matrix_columns, Filters(**filters),
            town["today"], page=page, page_size=page_size,
        )  # fmt: skip


def _table(found: matrix.Matrix) -> dict[str, dict[str, tuple[str, str | None]]]:
    return {
        line.row.code: {code: (cell.state, cell.username) for code, cell in zip(CODES, line.cells, strict=True)}
        for line in found.lines
    }


def test_the_columns_are_declared_by_the_domains_in_order():
    assert CODES == ["owner", "assessment", "scans", "remediation", "drills"]
    assert REGISTRY.matrix_rows is not None


def test_every_cell_is_what_the_records_say(app, session, town):
    found = _run(app, session, town)
    want = expected(session, town)
    assert _table(found) == want
    # The cases the town was built for, spelled out.
    assert want["A-LATE"]["remediation"] == ("overdue", "officer.a")
    assert want["A-LATE"]["assessment"] == ("overdue", "lead.a")  # its assessment lead, not its owner
    assert want["A-CII-NEW"]["assessment"][1] == "officer.a"  # its lead's term is over: the owner
    assert want["A-LATE"]["scans"] == ("overdue", "lead.a")  # its scan owner
    assert want["A1-SOON"]["scans"] == ("due_soon", "officer.a")  # no scan owner: the asset's owner
    assert want["B-GONE"]["scans"] == ("gap", "gone.b")
    assert want["B-CII"]["scans"] == ("on_time", "officer.b")
    assert want["A-CII-NEW"]["scans"] == ("overdue", "officer.a")
    assert want["B-CII-OK"]["scans"] == want["A-NOBODY"]["scans"] == ("none", None)
    assert want["A1-SOON"]["remediation"] == ("due_soon", "lead.a")
    assert want["A-NOBODY"]["owner"] == ("gap", None)
    assert want["B-GONE"]["owner"] == ("gap", "gone.b")
    assert want["B-GONE"]["remediation"] == ("none", None)  # its only risk is closed
    assert want["B-CII"]["drills"] == ("overdue", None)
    assert want["B-CII-OK"]["drills"] == ("due_soon", "officer.b")
    assert want["A-CII-NEW"]["drills"] == ("on_time", "lead.a")  # the next drill's lead answers
    assert "A-OLD" not in want


def test_cells_carry_their_records_and_dates(app, session, town):
    lines = {line.row.code: dict(zip(CODES, line.cells, strict=True)) for line in _run(app, session, town).lines}
    late = lines["A-LATE"]["remediation"]
    risks = town["risks"]
    assert (late.kind, set(late.ids), late.count) == ("risk", {risks["late"].id, risks["later"].id}, 2)
    assert late.due_on == town["today"] - timedelta(days=1)
    assert lines["A-CII-NEW"]["drills"].ids == (town["drills"]["next"].id, town["drills"]["recent"].id)
    scans = lines["A-LATE"]["scans"]
    found = session.exec(select(ScanFinding).where(ScanFinding.asset_id == town["assets"]["A-LATE"].id)).all()
    first = min(f.created_at for f in found) + timedelta(days=7)
    assert (scans.kind, set(scans.ids), scans.count) == ("scan_finding", {f.id for f in found}, 2)
    assert scans.due_on == first.astimezone(ZoneInfo(town["config"].timezone)).date()
    assert (lines["B-CII"]["scans"].count, lines["B-CII"]["scans"].due_on) == (0, None)


def test_rows_are_grouped_by_department_then_code(app, session, town):
    rows = [(line.row.department_code, line.row.code) for line in _run(app, session, town).lines]
    paths = {d.code: d.path for d in session.exec(select(Department)).all()}
    assert rows == sorted(rows, key=lambda r: (paths[r[0]], r[1]))
    assert [d for d, _c in rows][:4] == ["a", "a", "a", "a1"]


def test_filters_by_department_sector_and_state(app, session, town):
    assert set(_table(_run(app, session, town, department="a"))) == {"A-LATE", "A-NOBODY", "A-CII-NEW", "A1-SOON"}
    assert set(_table(_run(app, session, town, sector="energy"))) == {"A1-SOON"}
    want = expected(session, town)
    everything = _run(app, session, town)
    for state in matrix.STATES:
        having = {code for code, cells in want.items() if any(s == state for s, _u in cells.values())}
        assert set(_table(_run(app, session, town, state=state))) == having, state
        assert everything.totals[state] == len(having)
    assert everything.total == len(want)


def test_an_officer_of_b_sees_b_only(app, session, town, api_token):
    found = _run(app, session, town, actor=Actor.of(town["users"]["officer.b"], "api"))
    assert {line.row.department_code for line in found.lines} == {"b"}
    token = api_token(town["users"]["officer.b"])
    answer = app.test_client().get("/api/v1/accountability/matrix", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    body = answer.get_json()
    assert {item["asset_code"] for item in body["items"]} == {"B-GONE", "B-CII", "B-CII-OK"}
    gone = next(item for item in body["items"] if item["asset_code"] == "B-GONE")
    assert gone["cells"]["owner"] == {
        "state": "gap", "user": "gone.b", "due_on": None, "count": 1, "kind": "asset", "ids": [gone["asset_id"]]
    }  # fmt: skip
    assert [c["code"] for c in body["columns"]] == CODES
    # Another bureau is an unknown department, as everywhere.
    refused = app.test_client().get(
        "/api/v1/accountability/matrix?department=a", headers={"Authorization": f"Bearer {token}"}
    )
    assert refused.status_code == 422


def test_the_api_answers_what_the_service_computes(app, session, town, api_token):
    token = api_token(_city_admin(session))
    body = (
        app.test_client()
        .get("/api/v1/accountability/matrix?state=overdue&page_size=2", headers={"Authorization": f"Bearer {token}"})
        .get_json()
    )
    want = expected(session, town)
    overdue = [code for code, cells in want.items() if any(s == "overdue" for s, _u in cells.values())]
    assert body["total"] == len(overdue) and len(body["items"]) == 2
    for item in body["items"]:
        assert {k: (c["state"], c["user"]) for k, c in item["cells"].items()} == want[item["asset_code"]]


def _city_admin(session) -> User:
    return session.exec(select(User).where(User.username == "root.admin")).one()


def test_pagination(app, session, town):
    whole = [line.row.code for line in _run(app, session, town).lines]
    pages = [[line.row.code for line in _run(app, session, town, page=n, page_size=3).lines] for n in (1, 2, 3)]
    assert [code for page in pages for code in page] == whole
    assert [len(p) for p in pages] == [3, 3, 1]
    assert _run(app, session, town, page=9, page_size=3).lines == []


def _populate(app, session, n: int, start: int) -> None:
    """n assets in b, each with an owner, a live risk with its owner, every other one a CII asset
    with a completed drill, every third one a scan owner, and scans with open findings."""
    today = snapshots.local_today(config_of(app).timezone)
    b = session.exec(select(Department).where(Department.code == "b")).one()
    owner = session.exec(select(User).where(User.username == "officer.b")).one()
    for i in range(start, start + n):
        asset = Asset(
            code=f"N-{i:04d}", name=f"System {i}", sector="transport", department_id=b.id, mlps_level=2,
            is_cii=bool(i % 2), cii_designated_on=today - timedelta(days=100) if i % 2 else None,
            network_targets=["127.0.0.1"],
        )  # fmt: skip
        session.add(asset)
        session.flush()
        session.add(AssetGrade(asset_id=asset.id, mlps_level=2, changed_by="t"))
        responsibility.assign(session, "asset", asset.id, "owner", owner, SYSTEM)
        if i % 3 == 0:
            responsibility.assign(session, "asset", asset.id, "scan_owner", owner, SYSTEM)
            responsibility.assign(session, "asset", asset.id, "assessment_lead", owner, SYSTEM)
        _scan(session, asset, *range(i % 4), triaged=i % 5 == 0)
        _risk(session, asset, owner, today + timedelta(days=i % 60 - 20))
        if i % 4 == 1:
            _drill(session, asset, owner, ended=today - timedelta(days=i % 400))
    session.commit()


def test_the_statements_do_not_grow_with_the_assets(app, session, city):
    engine = app.extensions["secgov_engine"]
    config = config_of(app)
    today = snapshots.local_today(config.timezone)
    seen: list[str] = []

    def note(_conn, _cursor, statement, *_args):
        seen.append(statement)

    def count() -> int:
        session.expire_all()
        seen.clear()
        with app.test_request_context():
            found = matrix.matrix(
                session, SYSTEM, config, REGISTRY.matrix_rows, REGISTRY.matrix_columns, Filters(), today
            )
        assert found.lines
        return len(seen)

    _populate(app, session, 10, 0)
    event.listen(engine, "before_cursor_execute", note)
    try:
        small = count()
        event.remove(engine, "before_cursor_execute", note)
        _populate(app, session, 190, 10)
        event.listen(engine, "before_cursor_execute", note)
        assert count() == small, "the matrix's statements grew with the number of assets"
        assert small <= 24  # the rows, then a few for each of the five columns
    finally:
        if event.contains(engine, "before_cursor_execute", note):
            event.remove(engine, "before_cursor_execute", note)


def test_the_page_shows_what_the_api_answers(app, client, session, town, api_token):
    from helpers import login

    officer = town["users"]["officer.b"]
    token = api_token(officer)
    body = client.get("/api/v1/accountability/matrix", headers={"Authorization": f"Bearer {token}"}).get_json()
    login(client, officer)
    html = client.get("/accountability/matrix", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Accountability matrix" in html
    # The department's header row, each asset, the totals as the API counts them.
    assert html.count('class="group"') == 1
    for item in body["items"]:
        assert f"<code>{item['asset_code']}</code>" in html
    for state, label in (("overdue", "Overdue"), ("gap", "No holder"), ("due_soon", "Due soon")):
        assert f">{body['totals'][state]}</span> {label}</a>" in html
    # B-CII's drills: overdue, nobody; B-CII-OK: the lead's drill linked.
    assert "Nobody" in html
    assert f'/drills/{town["drills"]["lapsing"].id}"' in html
    # The scans cells link to the asset's findings: its open ones when it has some.
    assert f'/scans/findings?asset_id={town["assets"]["B-GONE"].id}"' in html
    assert f'/scans/findings?asset_id={town["assets"]["B-CII"].id}"' in html
    # Filters are kept by the pager and an unknown department is dropped with a warning.
    page = client.get("/accountability/matrix?department=a&state=overdue", headers={"Accept-Language": "en"}).get_data(
        as_text=True
    )
    assert "Unknown department" in page and "<code>B-CII</code>" in page
    assert "<code>B-GONE</code>" not in page  # no overdue cell


def test_the_export_is_the_matrix_in_a_file(app, session, town, api_token):
    import csv
    import io

    headers = {"Authorization": f"Bearer {api_token(town['users']['officer.b'])}"}
    client = app.test_client()
    body = client.get("/api/v1/accountability/matrix", headers=headers).get_json()
    answer = client.get("/api/v1/accountability_matrix/export?format=csv", headers=headers)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True).lstrip("\ufeff"))))
    assert [r["asset"] for r in rows] == [item["asset_code"] for item in body["items"]]
    for row, item in zip(rows, body["items"], strict=True):
        for code, cell in item["cells"].items():
            assert row[f"{code}_state"] == cell["state"]
            assert (row[f"{code}_holder"] or None) == cell["user"]
            assert (row[f"{code}_due_on"] or None) == cell["due_on"]
    only = client.get("/api/v1/accountability_matrix/export?format=csv&state=overdue", headers=headers)
    assert {r["asset"] for r in csv.DictReader(io.StringIO(only.get_data(as_text=True).lstrip("\ufeff")))} == {"B-CII"}
    # Export only: the import is refused, nothing written.
    refused = client.post(
        "/api/v1/accountability_matrix/import",
        headers=headers,
        data={"file": (io.BytesIO(b"asset\nB-CII\n"), "m.csv")},
    )
    assert refused.status_code in (404, 405)


def test_the_page_offers_its_export_with_its_filters(client, town):
    from helpers import login

    login(client, town["users"]["officer.b"])
    html = client.get("/accountability/matrix?state=gap", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'href="/registers/export/accountability_matrix?format=csv&amp;state=gap"' in html
