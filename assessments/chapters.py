"""The assessments domain's chapters of the leadership report (`secgov.reports.chapters`): the risk
heat map (inherent and residual), the top risks with their owners, and the compliance of the
required assessments (MLPS evaluations, CII annual assessments, self-inspections).

Each builder reads the registers of the report's scope (its actor's subtree) as they are when the
report is generated, as of the report's last day, under the methodology's settings in force
(`assessments.rule.method`). Their overdue items (assessments, risk treatments and reviews, with
the person responsible now) go to the core's overdue chapter; their score components to the
summary's overall score."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlmodel import Session, select

from assessments import risks, rule, schedule
from assessments.codes import LEVELS, SCHEDULED_KINDS, SEVERE
from assessments.models import Risk
from assets.chapters import _listed as listed
from assets.models import Asset
from assets.services import OWNER as ASSET_OWNER
from assets.services import SUBJECT as ASSET
from secgov import responsibility
from secgov.authz import Actor, in_scope
from secgov.codes import N_
from secgov.config import ServiceConfig
from secgov.models import Department
from secgov.reports.chapters import Chapter, Period, Scope, share

TOP_RISKS = 25  # the top-risks table: a page of the PDF
_RANK = {code: rank for rank, code in enumerate(LEVELS)}

OVERDUE_WHAT = {
    "self_inspection": N_("Self-inspection overdue"),
    "mlps_evaluation": N_("MLPS evaluation overdue"),
    "cii_annual": N_("CII annual assessment overdue"),
    "treatment": N_("Risk treatment overdue"),
    "review": N_("Risk review overdue"),
}


def _method(session: Session, config: Mapping[str, Any]) -> rule.Method:
    return rule.method(session, ServiceConfig.from_mapping(config))


def _person(user) -> str:
    return (user.display_name or user.username) if user else ""


def _cells(cells) -> list[dict[str, Any]]:
    return [cell.model_dump() for cell in cells]


def heat_map(session: Session, scope: Scope, period: Period, config: Mapping[str, Any]) -> dict[str, Any]:
    """Live risks (open, in treatment, accepted) by likelihood × impact, inherent and residual."""
    found = risks.heat_map(session, scope.actor, _method(session, config))
    return {
        "matrix": found.matrix,
        "total": found.total,
        "inherent": _cells(found.inherent),
        "residual": _cells(found.residual),
    }


def _live_risks(session: Session, actor: Actor, today: date) -> list[tuple[Risk, str, str, str]]:
    """Open risks in scope (`risks.open_clause`) with their asset's code and name and department."""
    return list(
        session.exec(
            select(Risk, Asset.code, Asset.name, Department.code)
            .join(Asset, Asset.id == Risk.asset_id)
            .join(Department, Department.id == Asset.department_id)
            .where(in_scope(Asset.department_id, actor), risks.open_clause(today))
        ).all()
    )


def _late_reviews(session: Session, actor: Actor, method: rule.Method, today: date) -> list[tuple]:
    """Risks in scope (not closed) whose review is past due, with their asset."""
    return list(
        session.exec(
            select(Risk, Asset.code, Asset.name, Department.code)
            .join(Asset, Asset.id == Risk.asset_id)
            .join(Department, Department.id == Asset.department_id)
            .where(in_scope(Asset.department_id, actor), risks.review_due_clause(method, today))
        ).all()
    )


def top_risks(session: Session, scope: Scope, period: Period, config: Mapping[str, Any]) -> dict[str, Any]:
    """Open risks by level; the highest first (then overdue treatments, then the earliest due),
    with their owners; overdue treatments and reviews as overdue items."""
    method = _method(session, config)
    today = period.end
    live = _live_risks(session, scope.actor, today)
    late_reviews = _late_reviews(session, scope.actor, method, today)
    owners = responsibility.holders(
        session, risks.SUBJECT, {r.id for r, *_ in live} | {r.id for r, *_ in late_reviews}, risks.OWNER
    )
    by_level = {level: 0 for level in LEVELS}
    for risk, *_rest in live:
        by_level[risk.level] += 1

    def late(risk: Risk) -> bool:
        return risks.treatment_overdue(risk, today)

    ordered = sorted(
        live,
        key=lambda row: (-_RANK.get(row[0].level, 0), not late(row[0]), row[0].due_date or date.max, row[0].id),
    )
    rows = [
        {
            "id": risk.id,
            "title": risk.title,
            "asset": code,
            "name": name,
            "department": department,
            "level": risk.level,
            "likelihood": risk.likelihood,
            "impact": risk.impact,
            "residual_level": risk.residual_level,
            "status": risk.status,
            "treatment": risk.treatment,
            "due": risk.due_date.isoformat() if risk.due_date else None,
            "late": late(risk),
            "owner": _person(owners.get(risk.id)),
        }
        for risk, code, name, department in ordered
    ]
    overdue = [
        _risk_item("treatment", risk, code, name, department, risk.due_date, today, owners)
        for risk, code, name, department in live
        if late(risk)
    ]
    overdue += [
        _risk_item("review", risk, code, name, department, risks.next_review(risk, method), today, owners)
        for risk, code, name, department in late_reviews
    ]
    severe = sum(by_level[level] for level in SEVERE)
    treatment_late = sum(1 for row in rows if row["late"])
    reviews_late = len(late_reviews)
    review_late_ids = {risk.id for risk, *_ in late_reviews}
    on_track = sum(1 for risk, *_ in live if not late(risk) and risk.id not in review_late_ids)
    return {
        "open": len(rows),
        "severe": severe,
        "by_level": [{"level": level, "risks": by_level[level]} for level in reversed(LEVELS)],
        "treatment_overdue": treatment_late,
        "review_overdue": reviews_late,
        "rows": {"rows": rows[:TOP_RISKS], "more": max(0, len(rows) - TOP_RISKS), "total": len(rows)},
        "overdue": overdue,
        "score": [
            {
                "label": N_("Open risks with treatment and review on time"),
                "value": share(on_track, len(live)),
            }
        ],
        "headline": [
            {"label": N_("Open risks"), "value": len(rows)},
            {"label": N_("Open high and very-high risks"), "value": severe},
            {"label": N_("Risk treatments overdue"), "value": treatment_late},
            {"label": N_("Risk reviews overdue"), "value": reviews_late},
        ],
    }


def _risk_item(kind: str, risk: Risk, code, name, department, due: date, today: date, owners) -> dict[str, Any]:
    owner = owners.get(risk.id)
    return {
        "kind": kind,
        "what": OVERDUE_WHAT[kind],
        "about": f"#{risk.id} {risk.title}",
        "asset": code,
        "name": name,
        "department": department,
        "due": due.isoformat(),
        "days_late": (today - due).days,
        "owner": _person(owner),
        # the duty that answers for it (the accountability trace's: the risk's remediation owner)
        "subject_type": risks.SUBJECT,
        "subject_id": risk.id,
        "duty": risks.OWNER,
    }


def _scheduled(session: Session, actor: Actor, method: rule.Method) -> list[schedule.Scheduled]:
    """The required assessments of every assessed asset in scope (`assessments.schedule`)."""
    return schedule.schedule(session, schedule.assessed_assets(session, in_scope(Asset.department_id, actor)), method)


def compliance(session: Session, scope: Scope, period: Period, config: Mapping[str, Any]) -> dict[str, Any]:
    """Per kind of required assessment: how many are required, up to date, not yet due for their
    first one, and overdue (and of those, never assessed); the overdue ones with the person
    responsible for the system now."""
    method = _method(session, config)
    today = period.end
    found = _scheduled(session, scope.actor, method)
    owners = responsibility.holders(session, "asset", {s.asset.id for s in found}, "owner")
    kinds = []
    for kind in SCHEDULED_KINDS:
        mine = [s for s in found if s.due.kind == kind]
        late = [s for s in mine if s.due.due_on < today]
        kinds.append(
            {
                "kind": kind,
                "required": len(mine),
                "up_to_date": sum(1 for s in mine if s.due.last_on is not None and s.due.due_on >= today),
                "first_pending": sum(1 for s in mine if s.due.last_on is None and s.due.due_on >= today),
                "overdue": len(late),
                "never": sum(1 for s in late if s.due.last_on is None),
            }
        )
    late = [s for s in found if s.due.due_on < today]
    items = [
        {
            "kind": s.due.kind,
            "what": OVERDUE_WHAT[s.due.kind],
            "about": "",
            "asset": s.asset.code,
            "name": s.asset.name,
            "department": s.department,
            "due": s.due.due_on.isoformat(),
            "days_late": (today - s.due.due_on).days,
            "owner": _person(owners.get(s.asset.id)),
            # the duty that answers for it (the accountability trace's: the asset's owner)
            "subject_type": ASSET,
            "subject_id": s.asset.id,
            "duty": ASSET_OWNER,
            "last_on": s.due.last_on.isoformat() if s.due.last_on else None,
            "level": s.asset.mlps_level,
            "cii": s.asset.is_cii,
        }
        for s in late
    ]
    required = len(found)
    by_kind = {row["kind"]: row for row in kinds}
    return {
        "kinds": kinds,
        "required": required,
        "overdue_total": len(late),
        "late": listed(sorted(items, key=lambda item: (item["due"], item["asset"], item["kind"]))),
        "overdue": [{k: v for k, v in item.items() if k not in ("last_on", "level", "cii")} for item in items],
        "score": [
            {"label": N_("Required assessments not overdue"), "value": share(required - len(late), required)},
        ],
        "headline": [
            {"label": N_("Required assessments overdue"), "value": len(late)},
            {"label": N_("MLPS evaluations overdue"), "value": by_kind["mlps_evaluation"]["overdue"]},
            {"label": N_("CII annual assessments overdue"), "value": by_kind["cii_annual"]["overdue"]},
        ],
    }


METHOD_HEAT_MAP = (
    N_(
        "Risk level: the matrix in force maps likelihood × impact (1 to 5 each) to one of five levels; by"
        " default NIST SP 800-30 Rev. 1 table I-2, or the 5×5 multiplication profile (product 1–2 very low,"
        " 3–4 low, 5–9 moderate, 10–16 high, 20–25 very high)."
    ),
    N_(
        "Heat map: the risks not closed (open, in treatment or accepted) by likelihood and impact; inherent as"
        " registered, residual as assessed after treatment (a risk without a residual assessment stays in"
        " its inherent cell). Each cell is coloured by its level and prints its number of risks."
    ),
)
METHOD_TOP_RISKS = (
    N_(
        "Open risks: open or in treatment, or accepted when the acceptance has lapsed (an acceptance"
        " approved and not expired closes a risk until it expires). Listed by level, the highest first,"
        " then those whose treatment is overdue, then by due date, with the risk's owner now."
    ),
    N_(
        "Overdue treatment: a risk open or in treatment whose treatment due date is before the report's"
        " last day. Overdue review: a risk not closed whose last review (or registration) is older than its"
        " level's review interval (by default 1 month for very high, 3 for high, 6 for moderate, 12 for low"
        " and very low)."
    ),
)
METHOD_COMPLIANCE = (
    N_(
        "Required assessments: for every system in operation or being built, an MLPS evaluation at the"
        " interval of its level (12 months at level 3, 6 at level 4 by default), a yearly self-inspection"
        " for every graded system and a CII annual assessment for every CII system (the intervals are"
        " city-wide settings)."
    ),
    N_(
        "Due date: the last approved assessment of the kind plus the interval; a system never assessed is"
        " due at its grading (or CII designation) plus the interval. Overdue: due before the report's last"
        " day; up to date: assessed and not overdue; first pending: never assessed and not yet due."
    ),
    N_(
        "Assessment score: each of the six areas is rated 0–100, by default the share of the area's required"
        " controls implemented (partly implemented ones count half, not applicable ones left out), which the"
        " assessor may adjust with a written reason; the overall score is the weighted mean of the areas"
        " (equal weights by default). An outside agency's MLPS evaluation or CII assessment records the"
        " agency's score as entered."
    ),
    N_(
        "Conclusion: excellent from 90, good from 80, fair from 70, else poor; poor whenever a high or"
        " very-high risk of the system is open. It is fixed when a leader other than its author approves the"
        " assessment."
    ),
)

CHAPTERS: tuple[Chapter, ...] = (
    Chapter(
        "risk_heat_map",
        N_("Risk heat map"),
        "reports/chapters/risk_heat_map.html",
        heat_map,
        order=40,
        method=METHOD_HEAT_MAP,
    ),
    Chapter(
        "top_risks",
        N_("Top risks and their owners"),
        "reports/chapters/top_risks.html",
        top_risks,
        order=45,
        method=METHOD_TOP_RISKS,
    ),
    Chapter(
        "assessment_compliance",
        N_("MLPS and CII assessment compliance"),
        "reports/chapters/assessment_compliance.html",
        compliance,
        order=50,
        method=METHOD_COMPLIANCE,
    ),
)
