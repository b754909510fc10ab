"""Import and export of the asset and vendor registers: services, pages, API and CLI.

Every failing import must write nothing and name the row (the header is row 1); partial mode
writes only the good rows; exports neutralise formulas, stay within the reader's scope and can
be imported again.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import zipfile
from collections import defaultdict
from datetime import date

import factories
import openpyxl
import pytest
from audit_support import run_cli
from conftest import empty_database
from factories import config_of
from helpers import csrf_token, login
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import func, select

from assets import controls, services
from assets.exchange import ASSETS
from assets.models import Asset, AssetControl, AssetGrade, Vendor
from secgov import audit, domains, exchange, responsibility
from secgov.authz import Actor
from secgov.errors import Conflict
from secgov.exchange import RowError
from secgov.models import AuditEntry, Department, User

EN = {"Accept-Language": "en"}
SYSTEM = Actor.system("cli")

HEADER = ["code", "name", "sector", "department", "owner"]


# --- helpers ---------------------------------------------------------------------------------


def csv_bytes(rows: list[list[object]], header: list[str] | None = None) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header or HEADER)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def xlsx_bytes(rows: list[list[object]], header: list[str] | None = None) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(header or HEADER)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def row(code: str, **overrides) -> list[str]:
    """A valid row of the five required columns."""
    values = {
        "code": code,
        "name": f"System {code}",
        "sector": "transport",
        "department": "a",
        "owner": "zhang.wei",
    }
    values.update(overrides)
    return [values[c] for c in HEADER]


def asset_count(session) -> int:
    session.rollback()  # see what was committed
    return session.exec(select(func.count()).select_from(Asset)).one()


def audit_actions(session, action: str) -> list[AuditEntry]:
    session.rollback()
    return list(session.exec(select(AuditEntry).where(AuditEntry.action == action)).all())


@pytest.fixture
def org(city, make_user, session):
    """The city of the shared fixture, with the owner of bureau a's systems (in unit a1), a leader
    of bureau a and a disabled officer."""
    people = {
        **city,
        "officer": city["officer_a"],
        "south": city["officer_b"],
        "owner": make_user("zhang.wei", roles=("officer",), department="a1"),
        "leader": make_user("leader.a", roles=("leader",), department="a"),
        "gone": make_user("gone.user", roles=("officer",), department="a"),
    }
    people["gone"].disabled = True
    session.add(people["gone"])
    session.commit()
    return people


@pytest.fixture
def run_import(app, session):
    """run_import(data, filename, viewer=None, partial=False, register="assets") -> report, as the
    web, the API and the command line import (the engine's own transactions)."""

    def run(data: bytes, filename: str = "assets.csv", viewer=None, *, partial=False, register="assets", lang="en"):
        chosen = domains.registry().register(register) if isinstance(register, str) else register
        session.rollback()  # the test's own read transaction must not outlive what the import writes
        with app.test_request_context(headers={"Accept-Language": lang}):
            actor = Actor.of(viewer, "web") if viewer is not None else SYSTEM
            engine = app.extensions["secgov_engine"]
            return exchange.import_file(engine, chosen, data, filename, actor, config_of(app), partial=partial)

    return run


def registered(app, code: str, **fields) -> Asset:
    """An energy system of bureau a owned by zhang.wei, registered through the service."""
    fields = {"sector": "energy", "department": "a", "owner": "zhang.wei", **fields}
    return factories.make_asset(app, code, fields.pop("department"), fields.pop("sector"), **fields)


def export(app, session, register: str = "assets", viewer=None, **query) -> bytes:
    """The register's export as the system (or viewer) would get it, not audited."""
    chosen = domains.registry().register(register)
    with app.test_request_context(headers=EN):
        actor = Actor.of(viewer) if viewer is not None else SYSTEM
        made = exchange.export(session, chosen, chosen.export_query(**query), actor, config_of(app), audited=False)
    return made.data


def read_assets(app, session) -> dict[str, dict]:
    """Every asset as the export sees it, by code, without ids, versions and timestamps."""
    session.rollback()
    with app.test_request_context(headers=EN):
        assets = list(session.exec(select(Asset).order_by(Asset.code)).all())
        records = services.read_many(session, assets)
    return {r.code: r.model_dump(exclude={"id", "version", "updated_at"}) for r in records}


# --- import: success -------------------------------------------------------------------------

FULL_HEADER = list(ASSETS.column_names)


def full_row(**values) -> list[str]:
    return [str(values.get(c, "")) for c in FULL_HEADER]


def test_import_csv_with_chinese_text(org, run_import, session, app):
    data = csv_bytes(
        [
            full_row(
                code="TS-001",
                name="交通信号控制系统",
                description="全市路口信号灯的集中控制，含“绿波带”协调。",
                sector="transport",
                department="a1",
                owner="Zhang.Wei",
                mlps_level="3",
                mlps_filing_number="11010043001-00001",
                mlps_extensions="IoT; ics",
                is_cii="是",
                classified="否",
                data_level="Important",
                lifecycle="operational",
                network_targets="127.0.0.5\n127.0.1.7/24; Signal-01.City.Local",
                expected_ports="443 161/udp;22/TCP",
            ),
            full_row(code="EG-002", name="政务服务网", sector="government", department="a", owner="zhang.wei"),
            full_row(
                code="WS-003",
                name="供水SCADA",
                sector="utilities",
                department="a",
                owner="officer.a",
                is_cii="yes",
                classified="1",
                mlps_level="",
            ),
        ],
        header=FULL_HEADER,
    )
    report = run_import(data, "资产登记.csv")
    assert report.errors == []
    assert (report.created, report.total_rows) == (3, 3)

    assets = read_assets(app, session)
    assert set(assets) == {"TS-001", "EG-002", "WS-003"}
    signal = assets["TS-001"]
    assert signal["name"] == "交通信号控制系统"
    assert signal["description"] == "全市路口信号灯的集中控制，含“绿波带”协调。"
    assert signal["department"] == "a1"
    assert signal["owner"] == "zhang.wei"
    assert signal["mlps_level"] == 3
    assert signal["mlps_extensions"] == ["iot", "ics"]
    assert (signal["is_cii"], signal["classified"]) == (True, False)
    assert signal["data_level"] == "important"
    assert signal["network_targets"] == ["127.0.0.5", "127.0.1.0/24", "signal-01.city.local"]
    assert signal["expected_ports"] == ["22/tcp", "443/tcp", "161/udp"]
    assert assets["EG-002"]["mlps_level"] is None
    assert assets["EG-002"]["lifecycle"] == "operational"
    assert (assets["WS-003"]["is_cii"], assets["WS-003"]["classified"]) == (True, True)

    # The same services as a registration by hand: controls of the level, owner, audit.
    signal_id = session.exec(select(Asset.id).where(Asset.code == "TS-001")).one()
    assert session.exec(select(func.count()).select_from(AssetControl).where(AssetControl.asset_id == signal_id)).one()
    assert responsibility.holders(session, "asset", [signal_id], services.OWNER)[signal_id].username == "zhang.wei"
    assert len(audit_actions(session, "asset.created")) == 3
    (entry,) = audit_actions(session, "assets.imported")
    assert '"created":3' in entry.detail and '"total_rows":3' in entry.detail and "资产登记.csv" in entry.detail
    assert entry.actor == "system"


def test_import_xlsx_with_typed_cells(org, run_import, app, session):
    data = xlsx_bytes(
        [
            ["HIS-1", "医院信息系统", "healthcare", "a", "zhang.wei", 2, "F-2", True, False],
            ["EDU-2", "智慧校园", "education", "a1", "officer.a", None, None, False, True],
        ],
        header=[*HEADER, "mlps_level", "mlps_filing_number", "is_cii", "classified"],
    )
    report = run_import(data, "assets.XLSX")
    assert report.errors == [] and report.created == 2
    assets = read_assets(app, session)
    assert assets["HIS-1"]["mlps_level"] == 2 and assets["HIS-1"]["is_cii"] is True
    assert assets["EDU-2"]["name"] == "智慧校园" and assets["EDU-2"]["classified"] is True


# --- import: failures write nothing and name the row --------------------------------------------


def test_bad_row_in_the_middle_of_1000_rows(org, run_import, session):
    rows = [row(f"A-{i:04d}") for i in range(1, 1001)]
    rows[499] = row("A-0500", sector="space")  # the 500th data row: row 501 of the sheet
    report = run_import(csv_bytes(rows))
    assert report.created == 0 and not report.written
    assert report.total_rows == 1000
    assert report.errors == [RowError(501, "sector", "Unknown sector: space")]
    assert asset_count(session) == 0
    assert audit_actions(session, "asset.created") == []
    assert audit_actions(session, "assets.imported") == []


def test_a_large_import_in_batches_equals_one_by_one_registration(org, run_import, app, session):
    """500 rows go to the service in batches: every asset gets the controls of its level, its first
    grade, its owner and its two audit entries, in an unbroken chain; the look-ups made do not
    grow with the number of rows; the planner's statistics are refreshed afterwards."""
    levels = [None, 1, 2, 3, 4]
    rows = [row(f"B-{i:03d}") + [str(levels[i % 5] or ""), "cloud iot" if i % 7 == 0 else ""] for i in range(500)]
    statements = []
    engine = app.extensions["secgov_engine"]
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        report = run_import(csv_bytes(rows, HEADER + ["mlps_level", "mlps_extensions"]))
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert report.created == 500 and report.errors == []
    # Look-ups go by the batch: a dozen per batch of 200 rows, where one by one made seven per row.
    # (The ORM may still send one INSERT per record: SQLite cannot return many new ids in order.)
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(reads) < 50, reads
    assets = {a.code: a for a in session.exec(select(Asset)).all()}
    have = defaultdict(set)
    for asset_id, control_id in session.exec(select(AssetControl.asset_id, AssetControl.control_id)):
        have[asset_id].add(control_id)
    for i in range(500):
        asset = assets[f"B-{i:03d}"]
        extensions = ["cloud", "iot"] if i % 7 == 0 else []
        assert have[asset.id] == controls.required_control_ids(session, levels[i % 5], extensions)
    grades = session.exec(select(func.count()).select_from(AssetGrade)).one()
    assert grades == 500
    owners = responsibility.holders(session, "asset", [a.id for a in assets.values()], "owner")
    assert {u.username for u in owners.values()} == {"zhang.wei"} and len(owners) == 500
    assert len(audit_actions(session, "asset.created")) == 500
    assert len(audit_actions(session, "responsibility.assigned")) == 500
    assert audit.verify(session).ok
    if session.get_bind().dialect.name == "sqlite":
        analysed = session.exec(text("SELECT stat FROM sqlite_stat1 WHERE tbl = 'asset'")).first()[0]
    else:
        analysed = session.exec(text("SELECT reltuples::int FROM pg_class WHERE relname = 'asset'")).one()[0]
    assert int(str(analysed).split()[0]) == 500


def test_codes_differing_only_in_case_are_one_code(org, run_import, app, session):
    registered(app, "CASE-1")
    report = run_import(csv_bytes([row("ok-2"), row("case-1")]))
    assert report.errors == [RowError(3, "code", "The code case-1 is already used.")]
    # The database refuses them too, whoever writes.
    dept = session.exec(select(Asset.department_id)).first()
    session.add(Asset(code="Case-1", name="x", sector="energy", department_id=dept))
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


def test_the_validation_pass_makes_no_query_per_row(org, run_import, app):
    """Checking 400 rows costs the same queries as checking 20 (existing codes, departments and
    people are loaded once)."""
    engine = app.extensions["secgov_engine"]
    counts = []
    for n in (20, 400):
        rows = [row(f"Q-{i}") for i in range(n)] + [row("BAD", sector="space")]
        statements = []

        def count(*_args, statements=statements):
            statements.append(1)

        event.listen(engine, "before_cursor_execute", count)
        try:
            report = run_import(csv_bytes(rows))
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert report.created == 0 and len(report.errors) == 1
        counts.append(len(statements))
    assert counts[0] == counts[1]


def test_duplicate_codes_within_the_file_name_both_rows(org, run_import, session):
    report = run_import(csv_bytes([row("A-1"), row("B-1"), row("a-1"), row("C-1")]))
    assert report.created == 0
    assert report.errors == [
        RowError(2, "code", "A-1 is also in row 4 of this file."),
        RowError(4, "code", "a-1 is also in row 2 of this file."),
    ]
    assert asset_count(session) == 0


def test_codes_already_in_the_database_are_refused(org, run_import, app, session):
    registered(app, "EX-1")
    report = run_import(csv_bytes([row("NEW-1"), row("ex-1")]))
    assert report.errors == [RowError(3, "code", "The code ex-1 is already used.")]
    assert asset_count(session) == 1


def test_departments_and_owners_outside_the_scope_are_unknown(org, run_import, session):
    rows = [
        row("OK-1"),
        row("S-1", department="b"),  # another bureau: does not exist for this officer
        row("S-2", department="no-such-dept"),
        row("S-3", owner="officer.b"),  # a person of another bureau
        row("S-4", owner="gone.user"),  # disabled
        row("S-5", owner="nobody"),
    ]
    report = run_import(csv_bytes(rows), viewer=org["officer"])
    assert report.errors == [
        RowError(3, "department", "Unknown department: b"),
        RowError(4, "department", "Unknown department: no-such-dept"),
        RowError(5, "owner", "Unknown or disabled user: officer.b"),
        RowError(6, "owner", "Unknown or disabled user: gone.user"),
        RowError(7, "owner", "Unknown or disabled user: nobody"),
    ]
    assert asset_count(session) == 0
    # The system (the CLI without --as) sees the whole city.
    report = run_import(csv_bytes([row("S-1", department="b", owner="officer.b")]))
    assert report.errors == [] and report.created == 1


@pytest.mark.parametrize(
    ("column", "cell", "message"),
    [
        ("network_targets", "300.1.1.1", "300.1.1.1 is not an IP address, CIDR block or host name."),
        ("network_targets", "127.0.0.1 10.0.0.0/33", "10.0.0.0/33 is not an IP address, CIDR block or host name."),
        ("network_targets", "127.000.0.1", "127.000.0.1 is not an IP address, CIDR block or host name."),
        ("network_targets", "http://127.0.0.1/", "http://127.0.0.1/ is not an IP address, CIDR block or host name."),
        ("network_targets", "127.0.0.1 -iL", "-iL starts with '-': not allowed."),
        ("network_targets", "127.0.0.1 --script=x", "--script=x starts with '-': not allowed."),
        ("network_targets", "10.0.0.0/8", "10.0.0.0/8 is larger than the 256 addresses allowed."),
        ("expected_ports", "443/tcp 70000", "70000 is not a port such as 443/tcp."),
        ("expected_ports", "443/xyz", "443/xyz: the protocol must be tcp, udp or sctp."),
        ("expected_ports", "80 -sV", "-sV starts with '-': not allowed."),
        ("mlps_level", "6", "Too large."),
        ("mlps_level", "三", "Must be a whole number."),
        ("is_cii", "maybe", "Must be true or false (yes/no, 1/0 and 是/否 are read too)."),
        ("data_level", "secret", "secret is not one of: core, important, general."),
        ("lifecycle", "dead", "dead is not one of: planned, building, operational, retired."),
        ("mlps_extensions", "cloud satellite", "satellite is not one of: cloud, mobile, iot, ics."),
        ("sector", "", "This field is required."),
        ("code", "has space", "Not in the expected format."),
    ],
)
def test_bad_cells_are_named(org, run_import, session, column, cell, message):
    values = dict(zip(HEADER, row("X-1"), strict=True))
    values[column] = cell
    header = list(dict.fromkeys([*HEADER, column]))
    data = csv_bytes([row("OK-1") + [""] * (len(header) - len(HEADER)), [values[c] for c in header]], header=header)
    report = run_import(data)
    assert report.errors == [RowError(3, column, message)]
    assert asset_count(session) == 0


def test_a_target_starting_with_dash_is_refused_even_when_quoted_as_text(org, run_import, session):
    # A cell starting with "-" is refused as formula-like text; quoted, it reaches the target check.
    header = [*HEADER, "network_targets"]
    report = run_import(csv_bytes([[*row("X-1"), "-iL"], [*row("X-2"), "'-oN /tmp/x"]], header=header))
    assert [(e.row, e.column) for e in report.errors] == [(2, "network_targets"), (3, "network_targets")]
    assert "formula" in report.errors[0].message
    assert report.errors[1].message == "-oN starts with '-': not allowed."
    assert asset_count(session) == 0


def test_oversized_range_follows_the_configured_limit(org, run_import, app, session):
    header = [*HEADER, "network_targets"]
    data = csv_bytes([[*row("X-1"), "127.0.0.0/24"]], header=header)
    app.config["SECGOV_MAX_TARGET_ADDRESSES"] = 16
    report = run_import(data)
    assert report.errors == [RowError(2, "network_targets", "127.0.0.0/24 is larger than the 16 addresses allowed.")]
    app.config["SECGOV_MAX_TARGET_ADDRESSES"] = 256
    assert run_import(data).created == 1


def test_formula_cells_are_refused(org, run_import, session):
    csv_data = csv_bytes(
        [
            row("F-1", name='=HYPERLINK("http://evil.example","click")'),
            row("F-2", name="@SUM(1)"),
            row("F-3", name="+cmd|' /C calc'!A0"),
            row("F-4", name="'=kept as text"),  # neutralised: accepted, quote removed
        ]
    )
    report = run_import(csv_data)
    assert [(e.row, e.column) for e in report.errors] == [(2, "name"), (3, "name"), (4, "name")]
    assert all("formula" in e.message for e in report.errors)
    assert asset_count(session) == 0

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    sheet.append(row("F-5"))
    sheet.append([*row("F-6")[:1], "=1+1", *row("F-6")[2:]])  # a real formula cell
    out = io.BytesIO()
    workbook.save(out)
    report = run_import(out.getvalue(), "f.xlsx")
    assert report.errors == [RowError(3, "name", "Formula cells are not accepted: enter the value itself.")]
    assert asset_count(session) == 0

    report = run_import(csv_bytes([row("F-4", name="'=kept as text")]))
    assert report.created == 1
    assert session.exec(select(Asset.name)).one() == "=kept as text"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            ["code", "name", "colour", "sector", "department", "owner"],
            [RowError(1, "colour", "Unknown column. Accepted columns: " + ", ".join(ASSETS.column_names) + ".")],
        ),
        (["code", "name", "sector", "department"], [RowError(1, "owner", "This required column is missing.")]),
        (
            ["code", "name", "sector", "department", "owner", "name"],
            [RowError(1, "name", "This column is named twice.")],
        ),
    ],
)
def test_wrong_header(org, run_import, session, header, expected):
    data = csv_bytes([["X-1", "System", "transport", "a", "zhang.wei", "x"][: len(header)]], header=header)
    report = run_import(data)
    assert report.errors == expected and report.total_rows == 0
    assert asset_count(session) == 0


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (
            b"code,name,sector,department,owner\nX-1,a,transport,a,zhang.wei\n",
            "assets.xlsx",
            "This is not an XLSX file.",
        ),
        (bytes(range(256)) * 8, "assets.xlsx", "This is not an XLSX file."),
        (b"", "assets.xlsx", "This is not an XLSX file."),
        (None, "assets.xlsx", "This XLSX file is damaged or not a valid workbook."),
        (
            b"\xd0\xcf\x11\xe0" + b"\x00" * 60,
            "assets.xlsx",
            "Old .xls files are not supported: save the file as .xlsx or .csv.",
        ),
        (b"code,name\n", "assets.xls", "Old .xls files are not supported: save the file as .xlsx or .csv."),
        (b"code,name\n", "assets.txt", "Unsupported file type: use a .csv or .xlsx file."),
        (b"code,name,sector,department,owner\n", "assets.csv", "The file has no data rows."),
        (b"", "assets.csv", "The file is empty: its first row must name the columns."),
        ("code,name\n".encode("utf-16"), "assets.csv", "The CSV file must be encoded in UTF-8 (or GB18030)."),
    ],
)
def test_files_that_are_not_what_they_claim(org, run_import, session, data, filename, message):
    if data is None:  # a zip archive, but no workbook in it
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            archive.writestr("hello.txt", "not a workbook")
        data = out.getvalue()
    report = run_import(data, filename)
    assert [e.message for e in report.errors] == [message]
    assert report.errors[0].row in (0, 1) and report.created == 0
    assert asset_count(session) == 0


def test_partial_mode_writes_only_the_good_rows(org, run_import, session):
    rows = [row("P-1"), row("P-2", sector="space"), row("P-3"), row("P-4", owner="officer.b"), row("P-5")]
    report = run_import(csv_bytes(rows), viewer=org["officer"], partial=True)
    assert report.created == 3 and report.written
    assert report.errors == [
        RowError(3, "sector", "Unknown sector: space"),
        RowError(5, "owner", "Unknown or disabled user: officer.b"),
    ]
    assert report.rejected_rows == 2
    assert sorted(session.exec(select(Asset.code)).all()) == ["P-1", "P-3", "P-5"]
    (entry,) = audit_actions(session, "assets.imported")
    assert '"rejected_rows":2' in entry.detail and '"partial":true' in entry.detail
    assert entry.actor == "officer.a"


def test_report_in_chinese(org, run_import):
    report = run_import(csv_bytes([row("Z-1", sector="space"), row("Z-1")]), lang="zh")
    messages = [e.message for e in report.errors]
    assert all(re.search(r"[\u4e00-\u9fff]", m) for m in messages), messages


# --- export ----------------------------------------------------------------------------------


@pytest.fixture
def register(org, app, session):
    """Assets in bureau a (three) and b (one), with every kind of field filled."""
    registered(
        app,
        "N-1",
        name="交通信号控制",
        description="第一行\n第二行",
        sector="transport",
        department="a1",
        mlps_level=3,
        mlps_filing_number="11010043001-00001",
        mlps_extensions=["iot"],
        is_cii=True,
        data_level="core",
        network_targets=["127.0.0.5", "127.0.1.0/28", "signal.city.local"],
        expected_ports=["443/tcp", "161/udp"],
    )
    registered(app, "N-2", name='=HYPERLINK("http://evil.example","x")', description="@SUM(1)")
    registered(app, "N-3", name="+86 10 1234", description="-x", lifecycle="planned", classified=True)
    registered(app, "S-1", name="南区系统", department="b", owner="officer.b")
    return org


def parse_csv(data: bytes) -> list[dict]:
    assert data.startswith("\ufeff".encode())
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_export_round_trip_into_an_emptied_database(register, app, session, make_department, make_user, run_import):
    before = read_assets(app, session)
    csv_data = export(app, session, format="csv")
    xlsx_data = export(app, session, format="xlsx")
    for data, filename in ((csv_data, "export.csv"), (xlsx_data, "export.xlsx")):
        session.rollback()  # no read transaction may outlive the emptying (SQLite snapshots)
        empty_database(app.extensions["secgov_engine"])
        make_department("city")
        make_department("a", parent="city")
        make_department("a1", parent="a", kind="unit")
        make_department("b", parent="city")
        for name, dept in (("zhang.wei", "a1"), ("officer.b", "b")):
            make_user(name, department=dept)
        report = run_import(data, filename)
        assert report.errors == [] and report.created == 4, filename
        assert read_assets(app, session) == before, filename


def test_exported_formulas_are_neutralised(register, app, session):
    csv_data = export(app, session, format="csv")
    xlsx_data = export(app, session, format="xlsx")
    rows = {r["code"]: r for r in parse_csv(csv_data)}
    assert list(rows["N-1"]) == list(ASSETS.column_names)
    assert rows["N-2"]["name"] == '\'=HYPERLINK("http://evil.example","x")'
    assert rows["N-2"]["description"] == "'@SUM(1)"
    assert rows["N-3"]["name"] == "'+86 10 1234"
    assert rows["N-3"]["description"] == "'-x"
    assert rows["N-1"]["network_targets"] == "127.0.0.5 127.0.1.0/28 signal.city.local"
    assert rows["N-1"]["is_cii"] == "true" and rows["N-1"]["mlps_level"] == "3"

    sheet = openpyxl.load_workbook(io.BytesIO(xlsx_data)).active
    cells = [cell for line in sheet.iter_rows() for cell in line]
    assert not any(cell.data_type == "f" for cell in cells)
    texts = {cell.value for cell in cells if isinstance(cell.value, str)}
    assert '\'=HYPERLINK("http://evil.example","x")' in texts and "'@SUM(1)" in texts and "'-x" in texts
    assert not any(t[:1] in "=+-@" for t in texts if t)


def test_an_officer_exports_only_their_scope(register, app, client):
    login(client, register["officer"])
    for fmt in ("csv", "xlsx"):
        response = client.get(f"/registers/export/assets?format={fmt}")
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith(exchange.CONTENT_TYPES[fmt].split(";")[0])
        disposition = response.headers["Content-Disposition"]
        assert re.fullmatch(rf'attachment; filename="secgov-assets-\d{{8}}\.{fmt}"', disposition), disposition
        assert response.headers["Cache-Control"] == "no-store"
    codes = [r["code"] for r in parse_csv(client.get("/registers/export/assets?format=csv").data)]
    assert codes == ["N-1", "N-2", "N-3"]
    # The list's filters apply; empty ones mean "any"; page is not a filter.
    response = client.get("/registers/export/assets?format=csv&lifecycle=planned&sector=&page=3")
    assert [r["code"] for r in parse_csv(response.data)] == ["N-3"]
    response = client.get("/registers/export/assets?format=csv&department=b")
    assert response.status_code == 422
    response = client.get("/registers/export/assets?format=pdf")
    assert response.status_code == 422


def test_list_pages_link_to_exports_of_what_they_show(register, app, client, session):
    login(client, register["officer"])
    page = client.get("/assets?lifecycle=planned&sort=-code&page=1", headers=EN).get_data(as_text=True)
    links = re.findall(r'href="(/registers/export/assets\?[^"]+)"', page)
    assert len(links) == 2 and all("lifecycle=planned" in link and "sort=-code" in link for link in links)
    assert "page=" not in links[0]
    response = client.get(links[0].replace("&amp;", "&"))
    assert [r["code"] for r in parse_csv(response.data)] == ["N-3"]
    assert "Export the 1 asset found:" in page

    page = client.get("/vendors?origin=foreign&q=acme").get_data(as_text=True)
    links = re.findall(r'href="(/registers/export/vendors\?[^"]+)"', page)
    assert len(links) == 2 and all("origin=foreign" in link and "q=acme" in link for link in links)
    assert client.get(links[1].replace("&amp;", "&")).status_code == 200


def test_exports_are_audited_with_their_channel_filters_and_rows(
    register, app, client, api_token, session, tmp_path, database_url
):
    """Who took which part of a register out, on every channel; refused exports are not exports."""
    login(client, register["officer"])
    assert client.get("/registers/export/assets?format=csv&lifecycle=planned").status_code == 200
    headers = {"Authorization": f"Bearer {api_token(register['leader'])}"}
    assert client.get("/api/v1/assets/export?format=xlsx&is_cii=true", headers=headers).status_code == 200
    assert client.get("/api/v1/vendors/export?format=csv&origin=foreign", headers=headers).status_code == 200
    assert client.get("/registers/export/assets?format=pdf").status_code == 422
    out = tmp_path / "a.csv"
    result = run_cli(database_url, "export", "assets", "--out", str(out), "--as", "officer.b")
    assert result.exit_code == 0, result.output

    entries = [e for e in audit_actions(session, "assets.exported")] + audit_actions(session, "vendors.exported")
    seen = [(e.actor, e.channel, e.action, json.loads(e.detail)) for e in sorted(entries, key=lambda e: e.seq)]
    assert seen == [
        ("officer.a", "web", "assets.exported", {"format": "csv", "rows": 1, "filters": {"lifecycle": "planned"}}),
        ("leader.a", "api", "assets.exported", {"format": "xlsx", "rows": 1, "filters": {"is_cii": True}}),
        ("leader.a", "api", "vendors.exported", {"format": "csv", "rows": 0, "filters": {"origin": "foreign"}}),
        ("officer.b", "cli", "assets.exported", {"format": "csv", "rows": 1, "filters": {}}),
    ]
    assert audit.verify(session).ok


def test_api_export_in_scope_and_filtered(register, client, api_token):
    headers = {"Authorization": f"Bearer {api_token(register['leader'])}"}
    response = client.get("/api/v1/assets/export?format=csv&sort=-code", headers=headers)
    assert response.status_code == 200
    assert [r["code"] for r in parse_csv(response.data)] == ["N-3", "N-2", "N-1"]
    response = client.get("/api/v1/assets/export?format=xlsx&is_cii=true", headers=headers)
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    assert [c.value for c in next(sheet.iter_rows(min_row=2, max_row=2))][0] == "N-1"
    assert sheet.max_row == 2
    response = client.get("/api/v1/assets/export?format=doc", headers=headers)
    assert response.status_code == 422 and response.json["error"]["code"] == "invalid"
    response = client.get("/api/v1/assets/export?page=2", headers=headers)
    assert response.status_code == 422


def test_export_pages_through_every_asset(org, app, session):
    with app.test_request_context(headers=EN):
        for i in range(450):
            session.add(Asset(code=f"M-{i:04d}", name="m", sector="energy", department_id=org["owner"].department_id))
        session.commit()
    data = export(app, session, viewer=org["officer"], format="csv")
    assert [r["code"] for r in parse_csv(data)] == [f"M-{i:04d}" for i in range(450)]


# --- web -------------------------------------------------------------------------------------


def upload(
    client, path: str, data: bytes, filename: str = "assets.csv", partial: bool = False, page="/registers/import"
):
    form = {"file": (io.BytesIO(data), filename), "csrf_token": csrf_token(client, page)}
    if partial:
        form["partial"] = "1"
    return client.post(path, data=form, content_type="multipart/form-data")


def test_web_import_all_or_nothing_and_partial(org, client, session):
    login(client, org["officer"])
    page = client.get("/registers/import", headers=EN)
    assert page.status_code == 200 and b'enctype="multipart/form-data"' in page.data
    bad = csv_bytes([row("W-1"), row("W-2", sector="space"), row("W-3")])
    response = upload(client, "/registers/import/assets", bad)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<td>3</td>" in html and "<code>sector</code>" in html
    assert asset_count(session) == 0
    response = upload(client, "/registers/import/assets", bad, partial=True)
    assert response.status_code == 200
    assert asset_count(session) == 2
    response = upload(client, "/registers/import/assets", csv_bytes([row("W-9")]))
    assert response.status_code == 302 and response.headers["Location"].endswith("/registers/import")
    assert asset_count(session) == 3
    response = client.post("/registers/import/assets", data={"csrf_token": csrf_token(client, "/registers/import")})
    assert response.status_code == 422


def test_web_import_is_for_admins_and_officers(org, client, session):
    login(client, org["leader"])
    assert client.get("/registers/import").status_code == 403
    response = upload(client, "/registers/import/assets", csv_bytes([row("L-1")]), page="/account")
    assert response.status_code == 403
    assert asset_count(session) == 0


def test_uploads_above_the_limit_answer_413(org, app, client, api_token, session):
    app.config["SECGOV_MAX_UPLOAD_BYTES"] = 2000
    login(client, org["officer"])
    data = csv_bytes([row(f"B-{i}") for i in range(100)])  # about 4 kB: above the file limit
    assert 2000 < len(data) < 2000 + 64 * 1024
    response = upload(client, "/registers/import/assets", data)
    assert response.status_code == 413
    assert "files up to 1 KiB" in response.get_data(as_text=True) or "2 KiB" in response.get_data(as_text=True)
    huge = data * 40  # far above the limit with its form overhead: refused while the body is read
    response = upload(client, "/registers/import/assets", huge)
    assert response.status_code == 413 and "2 KiB" in response.get_data(as_text=True)
    headers = {"Authorization": f"Bearer {api_token(org['officer'])}", **EN}
    for body in (data, huge):
        response = client.post("/api/v1/assets/import", data={"file": (io.BytesIO(body), "a.csv")}, headers=headers)
        assert response.status_code == 413
        assert response.json["error"] == {
            "code": "too_large",
            "message": "The file is too large: files up to 2 KiB are accepted.",
        }
    assert asset_count(session) == 0


# --- API -------------------------------------------------------------------------------------


def test_api_import(org, client, api_token, session):
    headers = {"Authorization": f"Bearer {api_token(org['officer'])}", **EN}

    def post(data: bytes, query: str = "", filename: str = "assets.csv"):
        return client.post(
            f"/api/v1/assets/import{query}", data={"file": (io.BytesIO(data), filename)}, headers=headers
        )

    bad = csv_bytes([row("API-1"), row("API-2", department="b")])
    response = post(bad)
    assert response.status_code == 422
    assert response.json["error"]["code"] == "invalid"
    assert response.json["error"]["details"] == [{"row": 3, "column": "department", "message": "Unknown department: b"}]
    assert asset_count(session) == 0
    response = post(bad, "?partial=true")
    assert response.status_code == 200
    assert response.json == {
        "created": 1,
        "errors": [{"row": 3, "column": "department", "message": "Unknown department: b"}],
        "problems": 1,
        "total_rows": 2,
    }
    response = post(xlsx_bytes([row("API-3")]), filename="a.xlsx")
    assert response.json == {"created": 1, "errors": [], "problems": 0, "total_rows": 1}
    assert asset_count(session) == 2
    response = client.post("/api/v1/assets/import", json={"file": "x"}, headers=headers)
    assert response.status_code == 422
    response = post(bad, "?partial=maybe")
    assert response.status_code == 422


def test_api_import_is_for_admins_and_officers(org, client, api_token, session):
    headers = {"Authorization": f"Bearer {api_token(org['leader'])}"}
    response = client.post(
        "/api/v1/assets/import", data={"file": (io.BytesIO(csv_bytes([row("L-1")])), "a.csv")}, headers=headers
    )
    assert response.status_code == 403
    assert asset_count(session) == 0


# --- vendors ---------------------------------------------------------------------------------

VENDOR_HEADER = ["name", "origin", "country", "confidentiality_agreement_on"]


def test_vendor_import_and_export_round_trip(org, run_import, app, session):
    data = csv_bytes(
        [
            ["华信科技有限公司", "domestic", "CN", "2024-03-01"],
            ["Overseas Systems Ltd", "Foreign", "us", ""],
            ["中外合资网络公司", "joint_venture", "CN", ""],
        ],
        header=VENDOR_HEADER,
    )
    report = run_import(data, "vendors.csv", register="vendors")
    assert report.errors == [] and report.created == 3
    vendors = {v.name: v for v in session.exec(select(Vendor)).all()}
    assert vendors["Overseas Systems Ltd"].origin == "foreign" and vendors["Overseas Systems Ltd"].country == "US"
    assert vendors["华信科技有限公司"].confidentiality_agreement_on == date(2024, 3, 1)
    assert len(audit_actions(session, "vendor.created")) == 3
    assert len(audit_actions(session, "vendors.imported")) == 1

    csv_data = export(app, session, "vendors", format="csv")
    xlsx_data = export(app, session, "vendors", format="xlsx", origin="domestic")
    rows = parse_csv(csv_data)
    assert [r["name"] for r in rows] == sorted(vendors)
    assert rows[0].keys() == {*VENDOR_HEADER, "department"}
    assert {r["department"] for r in rows} == {"city"}  # imported by the system: the city's
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx_data)).active
    assert [[c.value for c in line] for line in sheet.iter_rows(min_row=2)] == [
        ["华信科技有限公司", "domestic", "CN", "2024-03-01"]
    ] or sheet.cell(2, 1).value == "华信科技有限公司"

    session.exec(select(Vendor))
    for vendor in vendors.values():
        session.delete(vendor)
    session.commit()
    report = run_import(csv_data, "vendors.csv", register="vendors")
    assert report.created == 3
    again = {v.name: (v.origin, v.country, v.confidentiality_agreement_on) for v in session.exec(select(Vendor)).all()}
    assert again == {v.name: (v.origin, v.country, v.confidentiality_agreement_on) for v in vendors.values()}


def test_vendor_import_failures(org, run_import, session, make_vendor):
    make_vendor("Existing Co", "domestic", "CN")
    data = csv_bytes(
        [
            ["Good Co", "domestic", "CN", ""],
            ["existing co", "domestic", "CN", ""],
            ["Twin Ltd", "foreign", "DE", ""],
            ["TWIN LTD", "foreign", "DE", ""],
            ["Bad Origin", "alien", "CN", ""],
            ["Bad Country", "foreign", "XX", ""],
            ["Bad Date", "foreign", "FR", "2024-02-30"],
            ["=cmd|' /C calc'!A0", "foreign", "FR", ""],
            ["", "domestic", "CN", ""],
        ],
        header=VENDOR_HEADER,
    )
    report = run_import(data, "vendors.csv", register="vendors")
    assert report.created == 0
    assert [(e.row, e.column) for e in report.errors] == [
        (3, "name"),
        (4, "name"),
        (5, "name"),
        (6, "origin"),
        (7, "country"),
        (8, "confidentiality_agreement_on"),
        (9, "name"),
        (10, "name"),
    ]
    messages = {e.row: e.message for e in report.errors}
    assert messages[3] == "A vendor named existing co already exists."
    assert messages[4] == "Twin Ltd is also in row 5 of this file."
    assert messages[6] == "alien is not one of: domestic, foreign, joint_venture."
    assert messages[7] == "Unknown country code: XX"
    assert messages[10] == "This field is required."
    assert session.exec(select(func.count()).select_from(Vendor)).one() == 1
    report = run_import(data, "vendors.csv", register="vendors", partial=True)
    assert report.created == 1


def test_vendor_imports_name_departments_in_scope(org, run_import, session):
    """A vendor belongs to the department its row names, which must be in the importer's scope;
    a blank department is the importer's own."""
    header = [*VENDOR_HEADER, "department"]
    data = csv_bytes(
        [
            ["Unit Co", "domestic", "CN", "", "a1"],
            ["Home Co", "foreign", "DE", "", ""],
            ["South Co", "foreign", "DE", "", "b"],
        ],
        header=header,
    )
    report = run_import(data, "vendors.csv", viewer=org["officer"], register="vendors")
    assert report.created == 0
    assert [(e.row, e.column, e.message) for e in report.errors] == [(4, "department", "Unknown department: b")]
    report = run_import(data, "vendors.csv", viewer=org["officer"], partial=True, register="vendors")
    assert report.created == 2
    owners = dict(
        session.exec(select(Vendor.name, Department.code).join(Department, Department.id == Vendor.department_id)).all()
    )
    assert owners == {"Unit Co": "a1", "Home Co": "a"}


def test_vendor_web_and_api(org, client, api_token, session):
    data = csv_bytes([["Web Vendor", "domestic", "CN", ""]], header=VENDOR_HEADER)
    login(client, org["officer"])
    response = upload(client, "/registers/import/vendors", data, filename="v.csv")
    assert response.status_code == 302
    headers = {"Authorization": f"Bearer {api_token(org['leader'])}"}
    response = client.get("/api/v1/vendors/export?format=csv", headers=headers)
    assert response.status_code == 200 and [r["name"] for r in parse_csv(response.data)] == ["Web Vendor"]
    response = client.get("/registers/export/vendors?format=xlsx")
    assert response.status_code == 200 and response.data.startswith(b"PK")
    officer = {"Authorization": f"Bearer {api_token(org['officer'])}", **EN}
    response = client.post("/api/v1/vendors/import", data={"file": (io.BytesIO(data), "v.csv")}, headers=officer)
    assert response.status_code == 422
    assert response.json["error"]["details"][0]["message"] == "A vendor named Web Vendor already exists."


# --- CLI -------------------------------------------------------------------------------------


def test_cli_import_and_export(org, database_url, tmp_path, session):
    good = tmp_path / "assets.csv"
    good.write_bytes(csv_bytes([row("C-1"), row("C-2", department="b", owner="officer.b")]))
    result = run_cli(database_url, "import", "assets", str(good))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"imported 2 assets from {good} (2 rows)\n"
    assert asset_count(session) == 2

    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(xlsx_bytes([row("C-3"), row("C-4", sector="space"), row("C-1")]))
    result = run_cli(database_url, "import", "assets", str(bad))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "row 3, sector: Unknown sector: space",
        "row 4, code: The code C-1 is already used.",
        f"error: nothing was written: 2 problems in {bad}",
    ]
    assert asset_count(session) == 2

    result = run_cli(database_url, "import", "assets", str(bad), "--partial", "--as", "officer.a")
    assert result.exit_code == 0
    assert result.stdout == f"imported 1 assets from {bad} (3 rows; 2 rows with problems skipped)\n"
    assert asset_count(session) == 3

    result = run_cli(database_url, "import", "assets", str(good), "--as", "leader.a")
    assert result.exit_code == 2 and "may not" in result.stderr
    result = run_cli(database_url, "import", "assets", str(tmp_path / "missing.csv"))
    assert result.exit_code == 2 and "missing.csv" in result.stderr

    out = tmp_path / "all.xlsx"
    result = run_cli(database_url, "export", "assets", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"exported assets to {out} (xlsx, ")
    sheet = openpyxl.load_workbook(out).active
    assert sorted(line[0].value for line in sheet.iter_rows(min_row=2)) == ["C-1", "C-2", "C-3"]

    out = tmp_path / "a.csv"
    result = run_cli(database_url, "export", "assets", "--format", "csv", "--out", str(out), "--as", "officer.a")
    assert result.exit_code == 0
    assert sorted(r["code"] for r in parse_csv(out.read_bytes())) == ["C-1", "C-3"]


def test_cli_vendors(org, database_url, tmp_path, session):
    data = tmp_path / "vendors.csv"
    data.write_bytes(csv_bytes([["CLI Vendor", "domestic", "CN", "2023-01-02"]], header=VENDOR_HEADER))
    result = run_cli(database_url, "import", "vendors", str(data))
    assert result.exit_code == 0 and result.stdout == f"imported 1 vendors from {data} (1 rows)\n"
    result = run_cli(database_url, "import", "vendors", str(data))
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == "row 2, name: A vendor named CLI Vendor already exists."
    out = tmp_path / "v.csv"
    result = run_cli(database_url, "export", "vendors", "--format", "csv", "--out", str(out))
    assert result.exit_code == 0
    assert parse_csv(out.read_bytes()) == [
        {
            "name": "CLI Vendor",
            "origin": "domestic",
            "country": "CN",
            "confidentiality_agreement_on": "2023-01-02",
            "department": "city",
        }
    ]
    assert session.exec(select(func.count()).select_from(User)).one() == 7  # the org of this file: nobody was added


def test_a_row_refused_while_writing_leaves_nothing_behind(org, run_import, session):
    """The database may change between the checks and the writes: the row is reported, and its
    half-made records are undone (partial mode: that row only; otherwise the whole import)."""

    def racing(session_, items, actor, config):
        assets = services.create_assets(session_, items, actor, config)
        for data, asset in zip(items, assets, strict=True):
            if data.code == "RACE-1":
                raise Conflict("changed meanwhile")
            if data.code == "RACE-2":  # a concurrent insert of the same code
                session_.add(Asset(code=data.code + "-x", name="x", sector="energy", department_id=asset.department_id))
                session_.flush()
                session_.add(Asset(code=data.code + "-X", name="x", sector="energy", department_id=asset.department_id))
                session_.flush()
        return assets

    racy = dataclasses.replace(ASSETS, create=racing)
    rows = [row("OK-1"), row("RACE-1"), row("OK-2"), row("RACE-2"), row("OK-3")]
    report = run_import(csv_bytes(rows), partial=True, register=racy)
    assert report.created == 3
    assert [(e.row, e.column) for e in report.errors] == [(3, ""), (5, "")]
    assert report.errors[0].message == "changed meanwhile"
    assert report.errors[1].message == "This row conflicts with a change made meanwhile: import the file again."
    assert sorted(session.exec(select(Asset.code)).all()) == ["OK-1", "OK-2", "OK-3"]
    assert session.exec(select(func.count()).select_from(AssetControl)).one() == 0  # ungraded: no controls
    assert {e.object_id for e in audit_actions(session, "asset.created")} == {"OK-1", "OK-2", "OK-3"}

    rows = [row("OK-4"), row("RACE-1"), row("OK-5")]
    report = run_import(csv_bytes(rows), register=racy)
    assert report.created == 0 and report.errors == [RowError(3, "", "changed meanwhile")]
    assert asset_count(session) == 3
