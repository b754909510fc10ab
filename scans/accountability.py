"""What the scans domain brings to the accountability matrix (secgov.accountability.matrix): the
triage of each asset's scan findings, answered for by its scan owner, else its owner
(`scans.duties.ANSWERS`).

A finding found at a moment is to be triaged within the city-wide `finding_triage_days`
(scans.settings); the matrix counts in days, as its other columns do: a finding's deadline is
the day (in the city's calendar) that moment falls on. The cell is

- overdue when an open (untriaged) finding's deadline day has passed, due soon when the asset
  has open findings all within their deadline, `due_on` the earliest deadline;
- on time when the asset is scanned (it has network targets, and a scan that succeeded or a
  finding) and none of its findings is open;
- nothing due (`none`) otherwise: an asset with no network targets, or never scanned."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from sqlalchemy import and_, exists
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from assets.models import Asset
from assets.services import SUBJECT
from scans.duties import ANSWERS
from scans.models import Scan, ScanFinding
from scans.settings import TRIAGE_DAYS
from secgov import responsibility, settings
from secgov.accountability.matrix import Cell, Column, judged
from secgov.codes import N_
from secgov.config import ServiceConfig
from secgov.db import chunks
from secgov.localtime import local

KIND = "scan_finding"


def _open_findings(session: Session, config: ServiceConfig, asset_ids: Sequence[int], allowed: timedelta):
    """Which of these assets are scanned (network targets, and a succeeded scan or a finding), and
    the open findings of each, as (deadline day, finding id): one statement."""
    anything = aliased(ScanFinding)
    scanned = exists().where(Scan.asset_id == Asset.id, Scan.status == "succeeded") | exists().where(
        anything.asset_id == Asset.id
    )
    rows = session.exec(
        select(Asset.id, Asset.network_targets, scanned, ScanFinding.id, ScanFinding.created_at)
        .select_from(Asset)
        .outerjoin(ScanFinding, and_(ScanFinding.asset_id == Asset.id, ScanFinding.status == "open"))
        .where(Asset.id.in_(list(asset_ids)))
    ).all()
    found: set[int] = set()
    open_findings: dict[int, list[tuple[date, int]]] = {}
    for asset_id, targets, was_scanned, finding_id, created_at in rows:
        if targets and was_scanned:
            found.add(asset_id)
        if finding_id is not None:
            deadline = local(created_at + allowed, config.timezone).date()
            open_findings.setdefault(asset_id, []).append((deadline, finding_id))
    return found, open_findings


def scan_cells(session: Session, config: ServiceConfig, asset_ids: Sequence[int], today: date) -> dict[int, Cell]:
    """The cell of every asset that is scanned or has open findings (the module docstring): the
    setting, then per 500 assets one statement for the assets and their open findings, and one
    for their holders."""
    allowed = timedelta(days=settings.get(session, TRIAGE_DAYS, config))
    cells: dict[int, Cell] = {}
    for chunk in chunks(list(asset_ids)):
        scanned, open_findings = _open_findings(session, config, chunk, allowed)
        answered = scanned | set(open_findings)
        if not answered:
            continue
        holders = responsibility.holders(session, SUBJECT, sorted(answered), ANSWERS)
        for asset_id in answered:
            found = sorted(open_findings.get(asset_id, ()))
            if not found:
                cells[asset_id] = judged("on_time", holders.get(asset_id), kind=KIND)
                continue
            first = found[0][0]
            cells[asset_id] = judged(
                "overdue" if first < today else "due_soon",
                holders.get(asset_id),
                due_on=first,
                count=len(found),
                kind=KIND,
                ids=tuple(sorted(finding_id for _deadline, finding_id in found)),
            )
    return cells


def _findings_page(asset_id: int, cell: Cell) -> tuple[str, dict] | None:
    """The asset's findings: its open ones when it has some."""
    if cell.count:
        return ("scans.findings_index", {"asset_id": asset_id, "status": "open"})
    return ("scans.findings_index", {"asset_id": asset_id})


COLUMNS = (Column(code="scans", label=N_("Scans"), order=30, cells=scan_cells, link=_findings_page),)
