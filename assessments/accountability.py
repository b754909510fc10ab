"""What the assessments domain brings to the accountability matrix (secgov.accountability.matrix):
the asset's next required assessment (its assessment lead answers for it, else its owner; the due
states are the schedule's) and the remediation of its live risks (the most urgent risk's
remediation owner; the states are the risk register's)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlmodel import Session

from assessments import risks, rule, schedule
from assessments.duties import ANSWERS
from assessments.risks import OWNER as RISK_OWNER
from assessments.risks import SUBJECT as RISK
from assets.models import Asset
from assets.services import SUBJECT as ASSET
from secgov import responsibility
from secgov.accountability.matrix import Cell, Column, judged
from secgov.codes import N_
from secgov.config import ServiceConfig
from secgov.db import chunks
from secgov.models import User


def _holders(session: Session, subject_type: str, ids: Sequence[int], duty: responsibility.Duties) -> dict[int, User]:
    found: dict[int, User] = {}
    for chunk in chunks(sorted(set(ids))):
        found.update(responsibility.holders(session, subject_type, chunk, duty))
    return found


def assessment_cells(session: Session, config: ServiceConfig, asset_ids: Sequence[int], today: date) -> dict[int, Cell]:
    """The asset's required assessments (assessments.schedule): the state and date of the earliest
    due, the asset's assessment lead answering for it (else its owner); assets that need none are
    left out (`none`)."""
    method = rule.method(session, config)
    earliest: dict[int, list] = {}
    for chunk in chunks(list(asset_ids)):
        assets = schedule.assessed_assets(session, Asset.id.in_(chunk))
        for s in schedule.schedule(session, assets, method, ordered=False):
            earliest.setdefault(s.asset.id, []).append(s.due)
    leads = _holders(session, ASSET, list(earliest), ANSWERS)
    cells = {}
    for asset_id, dues in earliest.items():
        first = min(dues, key=lambda d: (d.due_on, d.kind))
        state = first.state(today, method.soon_days)
        cells[asset_id] = judged(
            state,
            leads.get(asset_id),
            due_on=first.due_on,
            count=len(dues),
            kind="assessment_due",
            ids=(asset_id,),
            detail=first.kind,
        )
    return cells


def remediation_cells(
    session: Session, _config: ServiceConfig, asset_ids: Sequence[int], today: date
) -> dict[int, Cell]:
    """The asset's live risks: overdue when any treatment is, due soon when any falls due within
    the register's window, on time otherwise; the most urgent risk's remediation owner answers."""
    live = risks.live_by_asset(session, asset_ids)
    owners = _holders(session, RISK, [found[0].id for found in live.values()], RISK_OWNER)
    cells = {}
    for asset_id, found in live.items():
        states = {risks.treatment_state(risk, today) for risk in found}
        state = next(s for s in ("overdue", "due_soon", "on_time") if s in states)
        urgent = found[0]
        cells[asset_id] = judged(
            state,
            owners.get(urgent.id),
            due_on=urgent.due_date,
            count=len(found),
            kind=RISK,
            ids=tuple(risk.id for risk in found),
        )
    return cells


def _due_page(asset_id: int, _cell: Cell) -> tuple[str, dict] | None:
    return ("assessments.due", {"asset_id": asset_id})


def _risk_page(asset_id: int, cell: Cell) -> tuple[str, dict] | None:
    """One risk: its page; several: the register's live risks of the asset."""
    if len(cell.ids) == 1:
        return ("risks.detail", {"risk_id": cell.ids[0]})
    return ("risks.index", {"asset_id": asset_id, "status": "live"})


def _missed_trace(asset_id: int, cell: Cell) -> tuple[str, str] | None:
    """An overdue assessment: the trace of the one due first (assessments.trace)."""
    return ("assessment_missed", f"{asset_id}:{cell.detail}") if cell.state == "overdue" and cell.detail else None


def _risk_trace(_asset_id: int, cell: Cell) -> tuple[str, str] | None:
    """Overdue remediation: the trace of the most urgent risk, the first overdue (assessments.trace)."""
    return ("risk_overdue", str(cell.ids[0])) if cell.state == "overdue" and cell.ids else None


COLUMNS = (
    Column(
        code="assessment",
        label=N_("Assessment"),
        order=20,
        cells=assessment_cells,
        link=_due_page,
        trace=_missed_trace,
    ),
    Column(
        code="remediation",
        label=N_("Remediation"),
        order=40,
        cells=remediation_cells,
        link=_risk_page,
        trace=_risk_trace,
    ),
)
