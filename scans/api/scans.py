"""Scans over the API: asking for one (queued to the asset's zone: 202), importing nmap XML run
elsewhere, reading scans with their observations and raw XML, and the assets' scan policies; the
same services as the pages. No request runs nmap: a worker of the asset's zone does."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from flask_babel import gettext as _
from pydantic import BaseModel, Field
from werkzeug.exceptions import RequestEntityTooLarge

from assets.models import Asset
from scans import jobs, policy, services, xmlparse
from scans.models import Scan
from scans.schemas import ImportRequest, PolicyRead, PolicyUpdate, ScanDetail, ScanQuery, ScanRead, ScanRequest
from scans.services import READERS, WRITERS, XML_READERS
from secgov import tasks
from secgov.authz import get_scoped, roles
from secgov.errors import Invalid, NotFound
from secgov.exchange.report import too_large_message
from secgov.files import UploadTooLarge, limit_uploads, read_upload
from secgov.rest import dump, operation, page, page_model
from secgov.web import actor, api_error, get_session, service_config

bp = Blueprint("scans_api", __name__, url_prefix="/api/v1")
limit_uploads(bp, {"scans_api.scans_import"})
TAGS = ["scans"]


class ScanUpload(BaseModel):
    asset_id: int = Field(description="The asset the scan was of (in your scope).")
    file: bytes = Field(description="nmap's XML output (nmap -oX), at most SECGOV_MAX_UPLOAD_BYTES.")


def _too_large_message() -> str:
    return too_large_message(service_config())


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_exc):
    return api_error(413, "too_large", _too_large_message())


def _scan(scan_id: int) -> tuple[Scan, str]:
    db = get_session()
    scan = services.get_scan(db, actor(), scan_id)
    return scan, db.get(Asset, scan.asset_id).code


@bp.get("/scans")
@roles(*READERS)
@operation(query=ScanQuery, ok=page_model(ScanRead), tags=TAGS)
def scans_list(query: ScanQuery):
    """Scans of the assets in the caller's scope, newest first; filtered and paged on the server."""
    db = get_session()
    rows, total = services.list_scans(db, actor(), query)
    return page(services.read_many(db, rows), total, query)


@bp.post("/scans")
@roles(*WRITERS)
@operation(body=ScanRequest, ok=ScanRead, status=202, tags=TAGS)
def scans_create(body: ScanRequest):
    """Ask for a scan of an asset's network targets with a profile: checked against its scan
    policy (a fragile asset: inside its windows) and the authorizations (403 naming the uncovered
    target, audited), then queued to the asset's network zone: 202 with the scan, its status
    (queued, or waiting when no agent of the zone is live) and its run. GET the Location for the
    outcome."""
    db = get_session()
    scan = services.request_scan(db, actor(), body, service_config(), kind=jobs.SCAN)
    tasks.hand_over(db, tasks.platform_of(current_app), [scan.run_id])  # after the frame's commit
    answer = services.read(db, scan, db.get(Asset, scan.asset_id).code)
    return jsonify(dump(answer)), 202, {"Location": url_for("scans_api.scans_get", scan_id=scan.id)}


@bp.post("/scans/import")
@roles(*WRITERS)
@operation(form=ScanUpload, ok=ScanRead, status=201, tags=TAGS)
def scans_import():
    """Record nmap XML run elsewhere (multipart fields `asset_id` and `file`) as a scan of the
    asset, with its observations and findings; a file that is not well-formed nmap XML, is cut
    short or declares entities is refused (400) and nothing is written."""
    try:
        upload = read_upload()
    except UploadTooLarge:
        return api_error(413, "too_large", _too_large_message())
    if upload is None:
        raise Invalid(_("Send the file as the multipart/form-data field 'file'."), field="file")
    data, filename = upload
    target = ImportRequest.model_validate({"asset_id": request.form.get("asset_id")})
    config = service_config()
    try:
        parsed = xmlparse.parse(data, max_bytes=config.max_upload_bytes)
    except xmlparse.XmlError as exc:
        return api_error(400, "bad_request", services.import_error(exc, config.max_upload_bytes))
    db = get_session()
    scan = services.import_xml(db, actor(), target.asset_id, data, parsed, name=filename)
    return services.read(db, scan, db.get(Asset, scan.asset_id).code)


@bp.get("/scans/<int:scan_id>")
@roles(*READERS)
@operation(ok=ScanDetail, tags=TAGS)
def scans_get(scan_id: int):
    """One scan: its status (with the reason it waits, or its progress while it runs, or its
    error), the argument vector and nmap's command line, and what it saw."""
    db = get_session()
    scan, code = _scan(scan_id)
    read = services.read(db, scan, code)
    return ScanDetail(**read.model_dump(), observations=services.observations(db, scan.id))


@bp.get("/scans/<int:scan_id>/xml")
@roles(*XML_READERS)
@operation(answer="nmap's raw XML output (an attachment).", tags=TAGS)
def scans_xml(scan_id: int):
    """The scan's raw XML as nmap wrote it (404 until the scan has one)."""
    scan, _code = _scan(scan_id)
    xml = services.xml_of(get_session(), scan.id)
    if xml is None:
        raise NotFound(_("This scan has no XML output yet."))
    return Response(
        xml,
        content_type="application/xml",
        headers={"Content-Disposition": f'attachment; filename="scan-{scan.id}.xml"'},
    )


# --- an asset's scan policy ----------------------------------------------------------------------


@bp.get("/assets/<int:asset_id>/scan-policy")
@roles(*READERS)
@operation(ok=PolicyRead, tags=TAGS)
def scan_policy_get(asset_id: int):
    """How the asset may be scanned: its network zone, whether it is fragile, its maintenance
    windows and rate (version 0: no policy set, the defaults apply)."""
    db = get_session()
    asset = get_scoped(db, Asset, asset_id, actor())
    return policy.read(asset, policy.effective(db, asset))


@bp.put("/assets/<int:asset_id>/scan-policy")
@roles(*WRITERS)
@operation(body=PolicyUpdate, ok=PolicyRead, tags=TAGS)
def scan_policy_put(asset_id: int, body: PolicyUpdate):
    """Set the asset's scan policy (send the version you read once one exists)."""
    db = get_session()
    applied = policy.update(db, actor(), asset_id, body)
    return policy.read(db.get(Asset, asset_id), applied)
