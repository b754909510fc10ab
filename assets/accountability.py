"""What the asset domain brings to the accountability matrix (secgov.accountability.matrix): its
rows (the assets in the reader's scope, retired ones aside, by department then code) and the
column of the asset's owner."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlmodel import Session, select

from assets.models import Asset
from assets.services import OWNER, SUBJECT
from secgov import responsibility
from secgov.accountability.matrix import Cell, Column, Row, Rows, judged
from secgov.authz import Actor, in_scope
from secgov.codes import N_
from secgov.config import ServiceConfig
from secgov.db import chunks
from secgov.directory import department_by_code
from secgov.models import Department


def rows(session: Session, actor: Actor, department: str | None, sector: str | None) -> list[Row]:
    """The assets in the actor's scope, not retired, in the department's subtree and the sector;
    ordered by department path, then code. One statement (two with a department)."""
    where = [in_scope(Asset.department_id, actor), Asset.lifecycle != "retired"]
    if department:
        dept = department_by_code(session, department, actor)
        where.append(Department.path.startswith(dept.path, autoescape=True))
    if sector:
        where.append(Asset.sector == sector)
    found = session.exec(
        select(Asset.id, Asset.code, Asset.name, Department.code, Department.name, Department.path, Asset.sector)
        .join(Department, Department.id == Asset.department_id)
        .where(*where)
        .order_by(Department.path, Asset.code)
    ).all()
    return [Row(*row) for row in found]


def owner_cells(session: Session, _config: ServiceConfig, asset_ids: Sequence[int], _today: date) -> dict[int, Cell]:
    """Every asset has an owner: on time when an active user holds the duty, a gap otherwise."""
    owners = {}
    for chunk in chunks(list(asset_ids)):
        owners.update(responsibility.holders(session, SUBJECT, chunk, OWNER))
    return {i: judged("on_time", owners.get(i), count=1, kind=SUBJECT, ids=(i,)) for i in asset_ids}


def _asset_page(asset_id: int, _cell: Cell) -> tuple[str, dict] | None:
    return ("assets.detail", {"asset_id": asset_id})


ROWS = Rows(select=rows)
COLUMNS = (Column(code="owner", label=N_("Owner"), order=10, cells=owner_cells, link=_asset_page),)
