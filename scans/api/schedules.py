"""Scan schedules over the API: officers and admins schedule scans of an asset or of a selection
of assets in their scope; the same services as the pages."""

from __future__ import annotations

from flask import Blueprint

from scans import schedules
from scans.models import ScanSchedule
from scans.schemas import ScanScheduleCreate, ScanScheduleQuery, ScanScheduleRead, ScanScheduleUpdate
from scans.services import WRITERS
from secgov.authz import roles
from secgov.rest import operation, page, page_model
from secgov.web import actor, get_session, service_config
from secgov.work import kinds, schedule_limits

bp = Blueprint("scan_schedules_api", __name__, url_prefix="/api/v1")


def _read(row: ScanSchedule) -> ScanScheduleRead:
    return schedules.read(get_session(), row)


def _min_seconds() -> int:
    return int(schedule_limits()["min_seconds"])


@bp.get("/scan-schedules")
@roles(*schedules.READERS)
@operation(query=ScanScheduleQuery, ok=page_model(ScanScheduleRead), tags=["scans"])
def scan_schedules_list(query: ScanScheduleQuery):
    """Scan schedules in the caller's scope, newest first."""
    rows, total = schedules.list_schedules(get_session(), actor(), query)
    return page([_read(row) for row in rows], total, query)


@bp.post("/scan-schedules")
@roles(*WRITERS)
@operation(body=ScanScheduleCreate, ok=ScanScheduleRead, status=201, tags=["scans"])
def scan_schedules_create(body: ScanScheduleCreate):
    """Schedule scans of an asset or of a selection of assets in your scope (department subtree by
    code, sector, MLPS level, CII flag), with a profile and a cron expression in the city's time
    zone or an interval. Each planned time asks for one scan per asset, each checked against the
    authorizations and maintenance windows when it is asked for."""
    db = get_session()
    row = schedules.create_schedule(db, actor(), body, kinds(), service_config(), min_seconds=_min_seconds())
    return _read(row)


@bp.get("/scan-schedules/<int:schedule_id>")
@roles(*schedules.READERS)
@operation(ok=ScanScheduleRead, tags=["scans"])
def scan_schedules_get(schedule_id: int):
    """One scan schedule in the caller's scope."""
    return _read(schedules.get_schedule(get_session(), actor(), schedule_id))


@bp.put("/scan-schedules/<int:schedule_id>")
@roles(*WRITERS)
@operation(body=ScanScheduleUpdate, ok=ScanScheduleRead, tags=["scans"])
def scan_schedules_update(schedule_id: int, body: ScanScheduleUpdate):
    """Change a scan schedule in your scope, giving the version read."""
    db = get_session()
    row = schedules.update_schedule(
        db, actor(), schedule_id, body, kinds(), service_config(), min_seconds=_min_seconds()
    )
    return _read(row)


@bp.delete("/scan-schedules/<int:schedule_id>")
@roles(*WRITERS)
@operation(status=204, tags=["scans"])
def scan_schedules_delete(schedule_id: int):
    """Delete a scan schedule in your scope (its scans stay)."""
    schedules.delete_schedule(get_session(), actor(), schedule_id)
