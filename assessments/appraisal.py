"""What the assessments domain brings to the security performance appraisal
(secgov.accountability.measures): required assessments done on time, risks treated by their due
date, and how long remediation takes.

- Assessments on time: each required assessment (an asset and a kind) whose due date falls in the
  period. The due dates are the schedule's (`assessments.schedule`, `assessments.rule`): the
  approved assessments of a kind, oldest first, each met the due date that followed from the one
  before it (from the grading, the CII designation or the registration for the first); after the
  last one the next is still open. On time when an assessment of the kind was finished and
  approved by the due date; late when later; not done when nothing was approved by `as_of`. The
  asset's assessment lead when it fell due answers for it, or its owner then when no lead was
  named (`assessments.duties.ANSWERS`). The asset's facts (grade, CII status, lifecycle)
  are today's, as in the schedule.
- Risks treated on time: each risk whose treatment fell due in the period, unless an acceptance
  was in force on its due date, or it was closed by then without treatment (its treatment is to
  accept it). On time when it was closed by its due date; late when closed later or not closed by
  `as_of`. Its remediation owner when it fell due answers for it.
- Remediation time: each risk closed in the period after treatment, the days from its registration
  to its closing (in the city's calendar); within target when closed by its due date, or within
  UNDATED_TARGET_DAYS when it had none. Its remediation owner at the closing answers for it.

Each reads the whole city in a few statements (and one per 500 subjects for the holders)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import or_
from sqlmodel import Session, select

from assessments import rule, schedule
from assessments.codes import SCHEDULED_KINDS
from assessments.duties import ANSWERS
from assessments.models import Assessment, Risk, RiskAcceptance
from assessments.risks import OWNER as RISK_OWNER
from assessments.risks import SUBJECT as RISK
from assets.models import Asset
from assets.services import SUBJECT as ASSET
from secgov import responsibility
from secgov.accountability.measures import Measure, Outcome, Period
from secgov.codes import N_
from secgov.config import ServiceConfig
from secgov.db import chunks
from secgov.localtime import day_start, local

# A risk closed without a due date is remediated in time within this many days of registration
# (the catalog sets no target treatment time by level). The measure's help says the same number.
UNDATED_TARGET_DAYS = 90
# Treatments that close a risk without treating it: such a risk is not counted as treated.
UNTREATED = ("accept",)


def _last_due_day(as_of: datetime, tz: str) -> date:
    """The last due day that has ended by as_of: a day counts once it is over."""
    return local(as_of, tz).date() - timedelta(days=1)


def _counted(period: Period, due_on: date, last_day: date) -> bool:
    return period.holds(due_on) and due_on <= last_day


# --- assessments on time ---------------------------------------------------------------------------


def _approved(session: Session, scope, as_of: datetime) -> dict[tuple[int, str], list]:
    """The approved scheduled assessments of the assets `scope` selects, decided by as_of, oldest
    first for each asset and kind (the order the schedule reads them in)."""
    day = schedule.done_on().label("done_on")
    rows = session.exec(
        select(Assessment.id, Assessment.asset_id, Assessment.kind, Assessment.title, Assessment.decided_at, day)
        .where(
            Assessment.status == "approved",
            Assessment.kind.in_(SCHEDULED_KINDS),
            Assessment.asset_id.in_(scope),
            or_(Assessment.decided_at.is_(None), Assessment.decided_at <= as_of),
        )
        .order_by(Assessment.asset_id, Assessment.kind, day, Assessment.id)
    ).all()
    found: dict[tuple[int, str], list] = {}
    for row in rows:
        found.setdefault((row.asset_id, row.kind), []).append(row)
    return found


def _due_after(facts: rule.AssetFacts, kind: str, last: tuple[date, int] | None, intervals, fallback) -> date | None:
    """The schedule's due date of one kind after the last approved assessment (None: the first)."""
    dues = rule.due_dates(facts, {kind: last} if last else {}, intervals, fallback)
    return next((d.due_on for d in dues if d.kind == kind), None)


def assessments_on_time(session: Session, period: Period, as_of: datetime, config: ServiceConfig) -> list[Outcome]:
    """Every required assessment due in the period by as_of, on time or not (module docstring)."""
    tz = config.timezone
    last_day = _last_due_day(as_of, tz)
    method = rule.method(session, config)
    scope = select(Asset.id).where(Asset.lifecycle.in_(rule.ASSESSED_LIFECYCLES))
    assets = [row for row, _department in schedule.assessed_assets(session)]
    known = schedule.facts_of(session, assets, scope)
    approved = _approved(session, scope, as_of)
    found = []  # (asset, kind, due_on, the assessment that met it or None)
    for asset in assets:
        facts, fallback = known[asset.id]
        for kind in rule.required_kinds(facts, method.intervals):
            last = None
            for done in approved.get((asset.id, kind), ()):
                due_on = _due_after(facts, kind, last, method.intervals, fallback)
                if due_on is not None and _counted(period, due_on, last_day):
                    found.append((asset, kind, due_on, done))
                last = (done.done_on, done.id)
            due_on = _due_after(facts, kind, last, method.intervals, fallback)
            if due_on is not None and _counted(period, due_on, last_day):
                found.append((asset, kind, due_on, None))
    moments = {(asset.id, due_on): day_start(due_on + timedelta(days=1), tz) for asset, _k, due_on, _d in found}
    leads = responsibility.holders_at(session, ASSET, ANSWERS, {(a, at) for (a, _due), at in moments.items()})
    outcomes = []
    for asset, kind, due_on, done in found:
        at = moments[(asset.id, due_on)]
        fallback_title = f"{asset.code} {asset.name}: {kind}"
        if done is None:
            record_type, record_id, title, good = ASSET, asset.id, fallback_title, False
        else:
            finished = max(done.done_on, local(done.decided_at, tz).date()) if done.decided_at else done.done_on
            title = f"{asset.code}: {done.title}" if done.title else fallback_title
            record_type, record_id, good = "assessment", done.id, finished <= due_on
        outcomes.append(Outcome(
            measure="assessments_on_time", record_type=record_type, record_id=record_id, title=title, at=at,
            department_id=asset.department_id, user_id=leads.get((asset.id, at)), good=good,
        ))  # fmt: skip
    return outcomes


# --- risks ---------------------------------------------------------------------------------------


def _risk_rows(session: Session, *where) -> list:
    """The risks the conditions select, each with its asset's code and department."""
    return list(
        session.exec(
            select(
                Risk.id,
                Risk.title,
                Risk.created_on,
                Risk.due_date,
                Risk.status,
                Risk.treatment,
                Risk.closed_at,
                Asset.code.label("asset_code"),
                Asset.department_id,
            )
            .join(Asset, Asset.id == Risk.asset_id)
            .where(*where)
            .order_by(Risk.id)
        ).all()
    )


def _accepted_on_due_day(session: Session, risks: Sequence, moments: dict[int, datetime]) -> set[int]:
    """The risks among these under an acceptance in force on their due day: accepted before the
    day ended (`moments`), not ended by then, expiring after it (`risks.accepted_in_force`: an
    acceptance ends on its expiry day). One statement per 500 risks."""
    due = {r.id: r.due_date for r in risks}
    found: set[int] = set()
    for chunk in chunks(list(due)):
        for risk_id, accepted_at, ended_at, expires_on in session.exec(
            select(
                RiskAcceptance.risk_id, RiskAcceptance.accepted_at, RiskAcceptance.ended_at, RiskAcceptance.expires_on
            ).where(RiskAcceptance.risk_id.in_(chunk))
        ).all():
            at = moments[risk_id]
            if accepted_at < at and (ended_at is None or ended_at >= at) and expires_on > due[risk_id]:
                found.add(risk_id)
    return found


def _title(risk) -> str:
    """A risk as the trace names it: its asset's code and its title."""
    return f"{risk.asset_code}: {risk.title}"


def _closed_by(risk, moment: datetime) -> datetime | None:
    """When the risk was closed, if it is closed and was by moment."""
    if risk.status == "closed" and risk.closed_at is not None and risk.closed_at <= moment:
        return risk.closed_at
    return None


def risks_treated_on_time(session: Session, period: Period, as_of: datetime, config: ServiceConfig) -> list[Outcome]:
    """Every risk whose treatment fell due in the period by as_of, treated on time or not."""
    tz = config.timezone
    last_day = _last_due_day(as_of, tz)
    if last_day < period.starts_on:
        return []
    risks = _risk_rows(session, Risk.due_date >= period.starts_on, Risk.due_date <= min(period.ends_on, last_day))
    moments = {r.id: day_start(r.due_date + timedelta(days=1), tz) for r in risks}
    accepted = _accepted_on_due_day(session, risks, moments)
    counted = []
    for risk in risks:
        closed = _closed_by(risk, moments[risk.id])
        if risk.id in accepted or (closed is not None and risk.treatment in UNTREATED):
            continue
        counted.append(risk)
    owners = responsibility.holders_at(session, RISK, RISK_OWNER, [(r.id, moments[r.id]) for r in counted])
    outcomes = []
    for risk in counted:
        at = moments[risk.id]
        closed = _closed_by(risk, as_of)
        outcomes.append(Outcome(
            measure="risks_treated_on_time", record_type=RISK, record_id=risk.id, title=_title(risk), at=at,
            department_id=risk.department_id, user_id=owners.get((risk.id, at)),
            good=closed is not None and local(closed, tz).date() <= risk.due_date,
        ))  # fmt: skip
    return outcomes


def remediation_time(session: Session, period: Period, as_of: datetime, config: ServiceConfig) -> list[Outcome]:
    """Every risk closed after treatment in the period by as_of: the days it took, within target or not."""
    tz = config.timezone
    risks = _risk_rows(
        session,
        Risk.status == "closed",
        Risk.closed_at >= period.start,
        Risk.closed_at < period.end,
        Risk.closed_at <= as_of,
        Risk.treatment.not_in(UNTREATED),
    )
    owners = responsibility.holders_at(session, RISK, RISK_OWNER, [(r.id, r.closed_at) for r in risks])
    outcomes = []
    for risk in risks:
        closed_on = local(risk.closed_at, tz).date()
        days = (closed_on - risk.created_on).days
        good = closed_on <= risk.due_date if risk.due_date is not None else days <= UNDATED_TARGET_DAYS
        outcomes.append(Outcome(
            measure="remediation_time", record_type=RISK, record_id=risk.id, title=_title(risk),
            at=risk.closed_at, department_id=risk.department_id, user_id=owners.get((risk.id, risk.closed_at)),
            good=good, value=float(days),
        ))  # fmt: skip
    return outcomes


RISK_PAGE = {RISK: ("risks.detail", "risk_id")}

MEASURES = (
    Measure(
        code="assessments_on_time",
        label=N_("Assessments on time"),
        help=N_(
            "Each required assessment that fell due in the period counts: on time when an assessment of its kind "
            "was finished and approved by its due date. The asset's assessment lead on the due date answers for "
            "it, or its owner when no lead was named."
        ),
        kind="rate",
        weight=20,
        collect=assessments_on_time,
        links={"assessment": ("assessments.detail", "assessment_id"), ASSET: ("assets.detail", "asset_id")},
        order=10,
    ),
    Measure(
        code="risks_treated_on_time",
        label=N_("Risks treated on time"),
        help=N_(
            "Each risk whose treatment fell due in the period counts, unless it was accepted then: on time when it "
            "was closed by its due date. Its remediation owner on the due date answers for it."
        ),
        kind="rate",
        weight=20,
        collect=risks_treated_on_time,
        links=RISK_PAGE,
        order=20,
    ),
    Measure(
        code="remediation_time",
        label=N_("Remediation time"),
        help=N_(
            "The days from a risk's registration to its closing, for the risks treated and closed in the period: "
            "within target when closed by its due date, or within 90 days when it had none. Its remediation owner "
            "at the closing answers for it."
        ),
        kind="average",
        weight=10,
        collect=remediation_time,
        links=RISK_PAGE,
        unit=N_("days"),
        order=30,
    ),
)
