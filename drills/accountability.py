"""What the drills domain brings to the accountability matrix (secgov.accountability.matrix): the
drill coverage of each CII asset (drills.coverage), answered for by the lead of its next planned
drill, or of its last completed one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlmodel import Session

from drills import coverage
from drills.services import LEAD, SUBJECT
from secgov import responsibility
from secgov.accountability.matrix import Cell, Column, judged
from secgov.codes import N_
from secgov.config import ServiceConfig
from secgov.db import chunks


def drill_cells(session: Session, config: ServiceConfig, asset_ids: Sequence[int], today: date) -> dict[int, Cell]:
    """Overdue when the asset is not covered, due soon when its coverage lapses within
    coverage.LAPSING_DAYS, on time otherwise; `none` for an asset that needs no drill. A CII
    asset no drill has ever named is overdue with nobody to name."""
    found = coverage.asset_coverage(session, config, asset_ids, today)
    drill_of = {i: (c.next or c.last)[1] for i, c in found.items() if c.next or c.last}
    leads = {}
    for chunk in chunks(sorted(set(drill_of.values()))):
        leads.update(responsibility.holders(session, SUBJECT, chunk, LEAD))
    cells = {}
    for asset_id, each in found.items():
        state = each.state(today)
        drill_id = drill_of.get(asset_id)
        if drill_id is None:
            cells[asset_id] = Cell(state, due_on=each.lapses_on)
            continue
        ids = tuple(d[1] for d in (each.next, each.last) if d)
        cells[asset_id] = judged(
            state, leads.get(drill_id), due_on=each.lapses_on, count=len(ids), kind=SUBJECT, ids=ids
        )
    return cells


def _drill_page(_asset_id: int, cell: Cell) -> tuple[str, dict] | None:
    return ("drills.detail", {"drill_id": cell.ids[0]}) if cell.ids else ("drills.coverage", {})


COLUMNS = (Column(code="drills", label=N_("Drills"), order=50, cells=drill_cells, link=_drill_page),)
