"""The scans domain's appraisal measure, findings triaged in time, and its setting
`finding_triage_days`. Findings are found at explicit moments and triaged through the service with
the clock stopped at chosen moments; each figure is computed here from the test's own description
of the findings, never with the domain's functions."""

from __future__ import annotations

import json
from collections import Counter
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from factories import config_of
from sqlmodel import select

from assessments import rule as assessment_rule
from scans import findings
from scans.models import Scan, ScanFinding
from scans.schemas import FindingPromotion, Triage
from secgov import audit, domains, models, responsibility, settings
from secgov.accountability.measures import period_of
from secgov.authz import Actor
from secgov.errors import Invalid
from secgov.models import AuditEntry, Department, User
from secgov.models import Setting as SettingRow

SYSTEM = Actor.system("cli")
REGISTRY = domains.registry()
MEASURE = next(m for m in REGISTRY.measures if m.code == "findings_triaged")
TZ = "Asia/Shanghai"
CITY = ZoneInfo(TZ)
PERIOD = period_of("2026-Q2", date(2026, 4, 1), date(2026, 6, 30), TZ)
LONG_AGO = datetime(2025, 1, 1, tzinfo=UTC)


def at(day: date, hour: int = 12, minute: int = 0) -> datetime:
    """A moment of the city's calendar, in UTC."""
    return datetime.combine(day, time(hour, minute), tzinfo=CITY).astimezone(UTC)


@contextmanager
def clock(when: datetime):
    """Stop the clock of the services the test calls at `when` (the audit trail, the finding's
    triage, the rows' defaults, the terms of a promoted risk's owner)."""

    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return when.astimezone(tz)

    with (
        mock.patch.object(audit, "datetime", Frozen),
        mock.patch.object(findings, "datetime", Frozen),
        mock.patch.object(models, "datetime", Frozen),
        mock.patch.object(responsibility, "datetime", Frozen),
    ):
        yield


# Each finding: its asset, when it was found, and what happened to it after (triage actions or a
# promotion, at city moments). S1 belongs to o1, then to o2 from 15 May; S2 to o3.
OWNERS = {"S1": [(LONG_AGO, "o1"), (at(date(2026, 5, 15)), "o2")], "S2": [(LONG_AGO, "o3")]}
FINDINGS = {
    "acknowledged in 3 days": ("S1", at(date(2026, 4, 5)), [("acknowledge", at(date(2026, 4, 8)))]),
    "acknowledged in 10 days": ("S1", at(date(2026, 4, 10)), [("acknowledge", at(date(2026, 4, 20)))]),
    # triaged_at keeps the latest triage (30 May): the first one counts.
    "acknowledged, resolved later": (
        "S1",
        at(date(2026, 4, 12)),
        [("acknowledge", at(date(2026, 4, 14))), ("resolve", at(date(2026, 5, 30)))],
    ),  # fmt: skip
    "opened again": (
        "S1",
        at(date(2026, 4, 2)),
        [("acknowledge", at(date(2026, 4, 3))), ("reopen", at(date(2026, 4, 4)))],
    ),  # fmt: skip
    "never triaged, after the reassignment": ("S1", at(date(2026, 5, 20)), []),
    "promoted in 3 days": ("S1", at(date(2026, 5, 25)), [("promote", at(date(2026, 5, 28)))]),
    "triaged at its deadline": ("S2", at(date(2026, 6, 20)), [("false_positive", at(date(2026, 6, 27)))]),
    "triaged a minute late": ("S2", at(date(2026, 6, 10)), [("acknowledge", at(date(2026, 6, 17), 12, 1))]),
    "deadline after the period": ("S2", at(date(2026, 6, 28)), []),
    "found before the period": ("S2", at(date(2026, 3, 30)), []),
    "found after the period": ("S2", at(date(2026, 7, 2)), []),
}


@pytest.fixture
def world(app, session, city, make_user):
    for name, dept in (("o1", "a"), ("o2", "a"), ("o3", "b")):
        make_user(name, roles=("officer",), department=dept)
    users = {u.username: u for u in session.exec(select(User)).all()}
    depts = {d.code: d for d in session.exec(select(Department)).all()}
    from assets.models import Asset

    assets = {}
    for code, dept in (("S1", "a"), ("S2", "b")):
        assets[code] = Asset(code=code, name=f"System {code}", sector="transport", department_id=depts[dept].id,
                             network_targets=["127.0.0.1"], created_at=LONG_AGO)  # fmt: skip
        session.add(assets[code])
        session.commit()
        with app.test_request_context():
            for start, who in OWNERS[code]:
                responsibility.assign(session, "asset", assets[code].id, "owner", users[who], SYSTEM, at=start)
            session.commit()
    made = {}
    for title, (code, found, _events) in FINDINGS.items():
        scan = Scan(asset_id=assets[code].id, profile="quick", status="succeeded", targets=["127.0.0.1"],
                    started_at=found, finished_at=found, created_at=found)  # fmt: skip
        session.add(scan)
        session.flush()
        row = ScanFinding(asset_id=assets[code].id, scan_id=scan.id, kind="unexpected_service", host="127.0.0.1",
                          port=len(made) + 1000, protocol="tcp", severity="medium", detail={"service": title},
                          created_at=found)  # fmt: skip
        session.add(row)
        session.commit()
        made[title] = row.id
    config = config_of(app)
    for title, (_code, _found, events) in FINDINGS.items():
        for action, when in events:
            with clock(when), app.test_request_context(headers={"Accept-Language": "en"}):
                if action == "promote":
                    method = assessment_rule.method(session, config)
                    findings.promote(session, SYSTEM, made[title], FindingPromotion(treatment="reduce"), method)
                else:
                    version = session.get(ScanFinding, made[title]).version
                    findings.triage(session, SYSTEM, made[title], Triage(action=action, note="seen", version=version))
                session.commit()
    return {"users": users, "depts": depts, "assets": assets, "findings": made}


def holder(terms, moment):
    begun = [who for start, who in sorted(terms) if start <= moment]
    return begun[-1] if begun else None


def expected(days: int, as_of: datetime, scanners=None):
    """(title, holder, good): found in the period with its deadline passed by as_of; good when its
    first triage (any action or a promotion) came by the deadline; the scan owner when it was
    found (`scanners`: asset code -> (from, until, who)), else the owner then."""
    items = []
    for title, (code, found, events) in FINDINGS.items():
        deadline = found + timedelta(days=days)
        if not PERIOD.start <= found < PERIOD.end or deadline > as_of:
            continue
        first = min((when for _action, when in events), default=None)
        start, end, scanner = (scanners or {}).get(code, (None, None, None))
        who = scanner if scanner and start <= found < end else holder(OWNERS[code], found)
        items.append((title, who, first is not None and first <= deadline))
    return items


def collected(app, session, as_of=None):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        return list(MEASURE.collect(session, PERIOD, as_of or PERIOD.end, config_of(app)))


def test_findings_triaged_in_time(app, session, world):
    outcomes = collected(app, session)
    users = {u.id: u.username for u in world["users"].values()}
    titles = {i: t for t, i in world["findings"].items()}
    got = [(titles[o.record_id], users.get(o.user_id), o.good) for o in outcomes]
    assert sorted(got) == sorted(expected(7, PERIOD.end))
    assert Counter((who, good) for _t, who, good in got) == Counter(
        (who, good) for _t, who, good in expected(7, PERIOD.end)
    )
    assert Counter((who, good) for _t, who, good in expected(7, PERIOD.end)) == Counter(
        {("o1", True): 3, ("o1", False): 1, ("o2", False): 1, ("o2", True): 1, ("o3", True): 1, ("o3", False): 1}
    )
    by_title = {titles[o.record_id]: o for o in outcomes}
    late = by_title["triaged a minute late"]
    assert late.record_type == "finding" and late.department_id == world["depts"]["b"].id
    assert late.note == "triaged on 2026-06-17, after the deadline of 2026-06-17"
    assert by_title["never triaged, after the reassignment"].note == "not triaged"
    # The finding's own triaged_at is its latest triage; the audit trail keeps the first.
    resolved = session.get(ScanFinding, world["findings"]["acknowledged, resolved later"])
    assert resolved.triaged_at == at(date(2026, 5, 30)) and by_title["acknowledged, resolved later"].good
    assert MEASURE.links["finding"] == ("scans.finding", "finding_id")


def test_the_scan_owner_named_when_a_finding_was_found_answers_for_it(app, session, world, make_user):
    """S1's scan owner is s1.scanner from 9 April until 21 May: the findings found then are
    theirs, those found before and after are the owner's (o1, then o2)."""
    make_user("s1.scanner", roles=("officer",), department="a")
    scanner = session.exec(select(User).where(User.username == "s1.scanner")).one()
    term = (at(date(2026, 4, 9)), at(date(2026, 5, 21)), "s1.scanner")
    with app.test_request_context():
        responsibility.assign(
            session, "asset", world["assets"]["S1"].id, "scan_owner", scanner, SYSTEM, at=term[0], until=term[1]
        )
        session.commit()
    users = {u.id: u.username for u in session.exec(select(User)).all()}
    titles = {i: t for t, i in world["findings"].items()}
    got = sorted((titles[o.record_id], users.get(o.user_id), o.good) for o in collected(app, session))
    want = expected(7, PERIOD.end, {"S1": term})
    assert got == sorted(want)
    assert want != expected(7, PERIOD.end)
    assert Counter(who for _t, who, _good in want)["s1.scanner"] == 3
    assert dict((t, who) for t, who, _good in want)["never triaged, after the reassignment"] == "s1.scanner"
    assert dict((t, who) for t, who, _good in want)["promoted in 3 days"] == "o2"  # found after the term


def test_a_finding_counts_once_its_deadline_has_passed(app, session, world):
    as_of = at(date(2026, 5, 1))
    outcomes = collected(app, session, as_of)
    titles = {i: t for t, i in world["findings"].items()}
    users = {u.id: u.username for u in world["users"].values()}
    assert sorted((titles[o.record_id], users.get(o.user_id), o.good) for o in outcomes) == sorted(expected(7, as_of))
    assert {titles[o.record_id] for o in outcomes} == {
        "acknowledged in 3 days", "acknowledged in 10 days", "acknowledged, resolved later", "opened again",
    }  # fmt: skip


def test_the_setting_changes_the_deadline_and_refuses_bad_values(app, session, world):
    config = config_of(app)
    for bad in (0, 91, -1, "7", 7.5, True):
        with pytest.raises(Invalid) as refused, app.test_request_context(headers={"Accept-Language": "en"}):
            settings.update(session, REGISTRY.settings, {"finding_triage_days": bad}, SYSTEM, config)
        assert refused.value.message == "The triage time is a whole number of days from 1 to 90."
        assert refused.value.field == "finding_triage_days"
        session.rollback()
    assert session.get(SettingRow, "finding_triage_days") is None
    assert not session.exec(select(AuditEntry).where(AuditEntry.action == "setting.changed")).all()
    titles = {i: t for t, i in world["findings"].items()}
    users = {u.id: u.username for u in world["users"].values()}
    with app.test_request_context(headers={"Accept-Language": "en"}):
        settings.update(session, REGISTRY.settings, {"finding_triage_days": 3}, SYSTEM, config)
    session.commit()
    outcomes = collected(app, session)
    assert sorted((titles[o.record_id], users.get(o.user_id), o.good) for o in outcomes) == sorted(
        expected(3, PERIOD.end)
    )
    assert expected(3, PERIOD.end) != expected(7, PERIOD.end)
    change = session.exec(select(AuditEntry).where(AuditEntry.action == "setting.changed")).one()
    assert json.loads(change.detail)["after"] == {"finding_triage_days": 3}


def test_the_statements_do_not_grow_with_the_findings(app, session, world):
    from sqlalchemy import event

    engine = app.extensions["secgov_engine"]
    seen: list[str] = []

    def note(_conn, _cursor, statement, *_args):
        seen.append(statement)

    def count() -> int:
        session.expire_all()
        seen.clear()
        event.listen(engine, "before_cursor_execute", note)
        try:
            assert collected(app, session)
        finally:
            event.remove(engine, "before_cursor_execute", note)
        return len(seen)

    small = count()
    asset = world["assets"]["S2"]
    scan = Scan(asset_id=asset.id, profile="quick", status="succeeded", targets=["127.0.0.1"])
    session.add(scan)
    session.flush()
    for i in range(60):
        session.add(
            ScanFinding(asset_id=asset.id, scan_id=scan.id, kind="unexpected_service", host="127.0.0.1", port=2000 + i,
                        protocol="tcp", severity="low", created_at=at(date(2026, 4, 1) + timedelta(days=i % 80)))
        )  # fmt: skip
    session.commit()
    assert count() == small <= 8
