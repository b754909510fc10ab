"""The demo city's critical systems, vendors, engagements and exemptions, loaded from the data
files in assets/data/ (in the import format) through the same services as real records.

About sixty systems across the sectors, owned by their bureau's security officer (registered
months ago; the police and metro systems handed over in the middle of the last quarter, HANDOVERS),
with grades and controls in varied states; their network targets are loopback addresses
(127.0.x.y), so demo scans stay on this machine. Vendors of all three origins; engagements that
give two violations, four warnings, an approved and a pending exemption."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlmodel import Session, func, select

from assets import controls, policy, vendors
from assets.exchange import ASSETS, VENDORS
from assets.models import Asset, AssetControl, AssetGrade, Control, Engagement, Vendor
from assets.schemas import EngagementCreate, ExemptionCreate, ExemptionDecision
from assets.services import OWNER, SUBJECT
from secgov import audit, auth, exchange, responsibility, tabular
from secgov.authz import Actor
from secgov.config import ServiceConfig
from secgov.demo import last_quarter
from secgov.errors import Invalid
from secgov.localtime import day_start, local
from secgov.models import Department, Responsibility

DATA = Path(__file__).parent / "data"
# A system after its MLPS evaluation: most areas in good order, one or two weak ones where the
# gaps gather (what an evaluation report asks to remedy first).
STRONG = (("implemented", 72), ("partial", 18), ("planned", 5), ("not_applicable", 5))
WEAK = (("implemented", 30), ("partial", 20), ("planned", 18), ("not_implemented", 30), ("not_applicable", 2))
EVIDENCE = "2026年度等级测评报告 / 2026 MLPS assessment report"
EVALUATOR = "officer"
# Systems handed over to a new owner in the middle of the last quarter: department, new owner,
# reason. The police systems were the city's officer's until the bureau had its own; the metro
# operations centre got its own officer, and the transport officer handed its systems over.
HANDOVERS = (
    ("police", "officer.police", "Security officer appointed at the bureau; the city's officer hands over"),
    ("transport-metro", "officer.metro", "The metro operations centre has its own security officer now"),
)


def load(session: Session, actor: Actor, config: ServiceConfig) -> None:
    """Create what is missing of the demo city's registers (safe to repeat), in the caller's
    transaction."""
    created = _load_assets(session, actor, config)
    if created:
        audit.record(
            session, actor, "demo.assets_loaded", object_type="asset", created=created, note="control statuses seeded"
        )
    if _load_vendors(session, actor, config):
        _load_engagements(session, actor, config)


def _missing_rows(register: exchange.Register, filename: str, existing: set[str]) -> bytes | None:
    """The rows of a demo file whose key is not in the database yet, as a file of the same format."""
    rows = tabular.read_table((DATA / filename).read_bytes(), filename, register.column_names)
    missing = [row for row in rows if row.values[register.key].lower() not in existing]
    if not missing:
        return None
    return tabular.write_csv(register.column_names, [[row.values[c] for c in register.column_names] for row in missing])


def _import(session: Session, register, data: bytes, actor: Actor, config: ServiceConfig) -> int:
    report = exchange.import_in(session, register, data, f"demo-{register.name}.csv", actor, config)
    if report.problems:
        raise Invalid(f"the demo {register.name} do not import: {report.errors[:3]}")
    return report.created


def _load_assets(session: Session, actor: Actor, config: ServiceConfig) -> int:
    existing = {code.lower() for code in session.exec(select(Asset.code)).all()}
    data = _missing_rows(ASSETS, "demo-assets.csv", existing)
    if data is None:
        return 0
    created = _import(session, ASSETS, data, actor, config)
    rng = random.Random(2026)  # noqa: S311 - demo data, not security: the same city every time
    new = session.exec(select(Asset).where(func.lower(Asset.code).not_in(existing)).order_by(Asset.id)).all()
    for asset in new:
        _vary_controls(session, asset, rng)
    controls.recount(session, [asset.id for asset in new])
    _backdate_registration(session, new, config)
    _hand_over(session, actor, new, config)
    return created


def handed_over_on(today: date) -> date:
    """The day the handovers (HANDOVERS) took place: the middle of the last quarter."""
    first, last = last_quarter(today)
    return first + timedelta(days=(last - first).days // 2)


def _backdate_registration(session: Session, assets: list[Asset], config: ServiceConfig) -> None:
    """The demo systems were registered and graded months ago, not at the demo's loading: each
    one's registration (`register_on`) moves back 45 to 400 days (so a system still without its
    filing number is overdue); the systems handed over (HANDOVERS) were registered at least a
    month before the handover. A generator of its own keeps the control statuses above as they
    always were."""
    rng = random.Random(1994)  # noqa: S311 - demo data, not security
    now = datetime.now(UTC)
    handed = (vendors.today_utc() - handed_over_on(local(now, config.timezone).date())).days + 30
    codes = {code for code, _to, _reason in HANDOVERS}
    departments = dict(session.exec(select(Department.id, Department.code)).all())
    for asset in assets:
        days = rng.randint(45, 400)
        if departments[asset.department_id] in codes:
            days = max(days, handed + days % 60)
        register_on(session, asset, now - timedelta(days=days))


def register_on(session: Session, asset: Asset, moment: datetime) -> None:
    """Move an asset's registration back to moment: its creation, its grade history's entries and
    the beginning of its owner's first term (the system, writing the demo's history)."""
    asset.created_at = asset.updated_at = moment
    session.add(asset)
    for grade in session.exec(select(AssetGrade).where(AssetGrade.asset_id == asset.id)).all():
        grade.changed_at = moment
        session.add(grade)
    first = session.exec(
        select(Responsibility)
        .where(Responsibility.subject_type == SUBJECT, Responsibility.subject_id == asset.id)
        .where(Responsibility.duty == OWNER)
        .order_by(Responsibility.valid_from)
    ).first()
    if first is not None:
        first.valid_from = moment
        session.add(first)


def _hand_over(session: Session, actor: Actor, assets: list[Asset], config: ServiceConfig) -> None:
    """The handovers of HANDOVERS: each department's systems pass to their new owner in the middle
    of the last quarter, at ten in the morning (`secgov.responsibility.assign` with that moment:
    the system writes the demo's history; people may not backdate)."""
    day = handed_over_on(local(datetime.now(UTC), config.timezone).date())
    moment = day_start(day, config.timezone) + timedelta(hours=10)
    departments = {d.id: d.code for d in session.exec(select(Department)).all()}
    for code, username, reason in HANDOVERS:
        user = auth.find_user(session, username)
        mine = [a for a in assets if departments[a.department_id] == code]
        if user is None or not mine:
            continue
        responsibility.assign_many(
            session, SUBJECT, OWNER, [(a.id, user, a.department_id) for a in mine], actor, reason=reason, at=moment
        )


def _vary_controls(session: Session, asset: Asset, rng: random.Random) -> None:
    """Statuses as an evaluation left them: every control reviewed, on the evaluation's date."""
    rows = session.exec(
        select(AssetControl, Control.area)
        .join(Control, Control.id == AssetControl.control_id)
        .where(AssetControl.asset_id == asset.id)
        .order_by(AssetControl.control_id)
    ).all()
    areas = sorted({area for _row, area in rows})
    weak = set(rng.sample(areas, k=min(len(areas), rng.choice((1, 1, 2)))))
    evaluated_on = vendors.today_utc() - timedelta(days=rng.randint(20, 200))
    for row, area in rows:
        weights = WEAK if area in weak else STRONG
        row.status = rng.choices([s for s, _w in weights], [w for _s, w in weights])[0]
        if row.status in ("implemented", "partial"):
            row.evidence = EVIDENCE
        row.reviewer = EVALUATOR
        row.reviewed_on = evaluated_on
        session.add(row)


def _load_vendors(session: Session, actor: Actor, config: ServiceConfig) -> bool:
    """The demo vendors; True when they were loaded now (their engagements follow them)."""
    existing = {name.lower() for name in session.exec(select(Vendor.name)).all()}
    data = _missing_rows(VENDORS, "demo-vendors.csv", existing)
    if data is None:
        return False
    _import(session, VENDORS, data, actor, config)
    return True


def _load_engagements(session: Session, actor: Actor, config: ServiceConfig) -> None:
    demo = json.loads((DATA / "demo-engagements.json").read_text(encoding="utf-8"))
    by_name = {v.name: v for v in session.exec(select(Vendor)).all()}
    by_code = {a.code: a for a in session.exec(select(Asset)).all()}
    for item in demo["engagements"]:
        data = EngagementCreate(
            vendor_id=by_name[item["vendor"]].id, role=item["role"], started_on=date.fromisoformat(item["started_on"])
        )
        vendors.add_engagement(session, by_code[item["asset"]], data, actor)
    today = vendors.today_utc()
    for item in demo["exemptions"]:
        asset = by_code[item["asset"]]
        engagement = session.exec(
            select(Engagement).where(Engagement.asset_id == asset.id, Engagement.role == item["role"])
        ).first()
        if "expires_in_years" in item:
            expires_on = policy.years_later(today, item["expires_in_years"])
        else:
            expires_on = today + timedelta(days=item["expires_in_days"])
        requester = Actor.of(auth.find_user(session, item["requested_by"]), "cli")
        exemption = policy.request_exemption(
            session,
            ExemptionCreate(engagement_id=engagement.id, reason=item["reason"], expires_on=expires_on),
            requester,
            config,
        )
        decision = item.get("decision")
        if decision:
            decider = Actor.of(auth.find_user(session, decision["by"]), "cli")
            note = ExemptionDecision(note=decision["note"])
            policy.decide_exemption(session, exemption, decision["approve"], note, decider)
