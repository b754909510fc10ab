"""Web pages of scans: the list of runs, one scan (its progress while it waits or runs, the exact
command, what it saw, its findings, the raw XML), and the forms of the asset page's section: the
asset's scan policy and "Scan now"."""

from __future__ import annotations

import re

from flask import Blueprint, Response, current_app, flash, render_template, request, url_for
from flask_babel import gettext as _

from assessments.scope import asset_in_scope
from assets import services as asset_services
from assets.models import Asset
from scans import findings, jobs, policy, rule, services
from scans.codes import SCAN_LIVE
from scans.models import Scan
from scans.schemas import FindingQuery, PolicyUpdate, ScanQuery, ScanRequest
from secgov.authz import ALL_ROLES, roles
from secgov.errors import NotFound, ServiceError
from secgov.pages import Done, Form, act, list_query
from secgov.tasks import hand_over, platform_of
from secgov.web import actor, get_session, service_config

bp = Blueprint("scans", __name__, url_prefix="/scans")

SCAN = Form(ScanRequest)
POLICY = Form(PolicyUpdate, empty_is_none=("fragile", "max_rate", "version"))
SCAN_FILTERS = ("status", "profile", "source", "page")


def asset_filter(query_model, names):
    """A list's filters from the query string, with the asset named by its code (`asset`) or by
    its id (`asset_id`, the links of the asset page). An unknown code matches nothing."""
    query, problems = list_query(query_model, (*names, "asset_id"))
    code = request.args.get("asset", "").strip()[:64]
    if code:
        found = asset_services.asset_by_code(get_session(), code)
        query = query.model_copy(update={"asset_id": found.id if found else None})
        if found is None:
            return query, problems, code, True
    elif query.asset_id:
        try:
            code = asset_in_scope(get_session(), query.asset_id, actor()).code
        except ServiceError:
            return query, problems, "", True
    return query, problems, code, False


def prefixed(form: str, errors: dict[str, str]) -> dict[str, str]:
    """The errors of one of a page's several forms, keyed `<form>_<field>` (the page's own: "_")."""
    return {("_" if key == "_" else f"{form}_{key}"): message for key, message in errors.items()}


def args_of(query, code: str = "") -> dict:
    """The filters of a list as query-string arguments, for the pager."""
    found = {k: v for k, v in query.model_dump(exclude={"page", "page_size"}).items() if v not in (None, "")}
    if code:
        found.pop("asset_id", None)
        found["asset"] = code
    return found


@bp.get("")
@roles(*ALL_ROLES)
def index():
    """Recent scans in the user's scope, newest first, filtered by asset, status and profile."""
    query, problems, code, unknown = asset_filter(ScanQuery, SCAN_FILTERS)
    for problem in problems:
        flash(problem, "warning")
    rows, total = ([], 0) if unknown else services.list_scans(get_session(), actor(), query)
    return render_template(
        "scans/index.html",
        rows=rows,
        total=total,
        query=query,
        asset_code=code,
        args=args_of(query, code),
    )


def _scan(scan_id: int) -> tuple[Scan, Asset]:
    db = get_session()
    scan = services.get_scan(db, actor(), scan_id)
    return scan, db.get(Asset, scan.asset_id)


@bp.get("/<int:scan_id>")
@roles(*ALL_ROLES)
def detail(scan_id: int):
    """One scan: its status (refreshed while it is queued, waiting or running), timing, the exact
    command, what it saw and its findings."""
    scan, asset = _scan(scan_id)
    db = get_session()
    found, found_total = findings.list_findings(
        db, actor(), FindingQuery(scan_id=scan.id, page_size=200), service_config().timezone
    )
    return render_template(
        "scans/detail.html",
        scan=services.read(db, scan, asset.code),
        asset=asset,
        live=scan.status in SCAN_LIVE,
        observations=services.observations(db, scan.id),
        findings=found,
        findings_total=found_total,
        has_xml=bool(services.scan_sha(db, scan.id)),
    )


@bp.get("/<int:scan_id>/xml")
@roles(*ALL_ROLES)
def xml(scan_id: int):
    """The scan's raw nmap XML, as nmap wrote it."""
    scan, asset = _scan(scan_id)
    data = services.xml_of(get_session(), scan.id)
    if data is None:
        raise NotFound(_("This scan has no stored result."))
    name = f"scan-{scan.id}-{re.sub(r'[^A-Za-z0-9_.-]', '_', asset.code)}.xml"
    return Response(
        data,
        mimetype="application/xml",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "X-Content-Type-Options": "nosniff"},
    )


def _queue(data: ScanRequest) -> Scan:
    """Ask for the scan and hand its run to the queue when the request's transaction commits."""
    db = get_session()
    scan = services.request_scan(db, actor(), data, service_config(), kind=jobs.SCAN)
    hand_over(db, platform_of(current_app), [scan.run_id])
    return scan


@bp.post("/new")
@roles(*services.WRITERS)
def request_scan():
    """Scan an asset now with a profile (the asset page's "Scan now"); a refusal is flashed on the
    asset page, nothing queued."""
    asset_id = request.form.get("asset_id", "")
    back = url_for("assets.detail", asset_id=int(asset_id)) if asset_id.isdigit() and len(asset_id) < 10 else None
    return act(
        _queue,
        form=SCAN,
        done=lambda scan: Done(url_for("scans.detail", scan_id=scan.id), _("Scan #%(id)d was queued.", id=scan.id)),
        back=(back or url_for("scans.index")) + "#scans",
    )


# --- an asset's scan policy ------------------------------------------------------------------

DAYS = re.compile(r"^(\d)(?:-(\d))?$")
WINDOW = re.compile(r"^(?P<days>[0-9,\s-]+?)\s+(?P<start>\d{1,2}:\d{2})\s*[-–]\s*(?P<end>\d{1,2}:\d{2})$")


def windows_from_text(text: str) -> list[dict] | None:
    """The windows of the policy form, one a line: days (0 is Monday; "0-4", "5,6") then the
    start and end, "0-4 01:00-05:00". None when a line cannot be read (the schema checks the rest)."""
    windows = []
    for line in (raw.strip() for raw in text.splitlines()):
        if not line:
            continue
        match = WINDOW.match(line)
        if match is None:
            return None
        days: list[int] = []
        for part in match["days"].replace(" ", "").split(","):
            found = DAYS.match(part)
            if found is None:
                return None
            first, last = int(found[1]), int(found[2] or found[1])
            days += range(first, last + 1)
        windows.append({"days": days, "start": match["start"].zfill(5), "end": match["end"].zfill(5)})
    return windows


def windows_text(windows: list[dict]) -> str:
    return "\n".join(f"{','.join(str(d) for d in w['days'])} {w['start']}-{w['end']}" for w in windows)


def _policy_page(asset: Asset, form: dict, errors: dict[str, str]):
    applied = policy.effective(get_session(), asset)
    return render_template(
        "scans/policy.html", asset=asset, applied=applied, form=form, errors=errors, fragile_rate=rule.FRAGILE_MAX_RATE
    )


@bp.route("/assets/<int:asset_id>/policy", methods=["GET", "POST"])
@roles(*services.WRITERS)
def policy_edit(asset_id: int):
    """Set how an asset may be scanned: its zone, fragile or not, maintenance windows, rate."""
    db = get_session()
    asset = asset_services.get_asset(db, asset_id, actor())
    if request.method != "POST":  # GET, and HEAD: showing a form never runs it
        applied = policy.effective(db, asset)
        form = {
            "zone": applied.zone,
            "fragile": "" if applied.fragile_marked is None else str(applied.fragile_marked).lower(),
            "windows": windows_text(applied.windows),
            "max_rate": "" if applied.max_rate is None else str(applied.max_rate),
            "version": str(applied.version) if applied.version else "",
        }
        return _policy_page(asset, form, {})
    windows = windows_from_text(request.form.get("windows", ""))
    if windows is None:
        problem = _("Write one window a line: the days, then the times, such as 0-4 01:00-05:00.")
        return _policy_page(asset, dict(request.form), {"windows": problem}), 422
    return _save_policy(asset, windows)


def _save_policy(asset: Asset, windows: list[dict]):
    data, errors = POLICY.parse({"windows": windows})
    if data is None:
        return _policy_page(asset, dict(request.form), errors), 422
    return act(
        lambda: policy.update(get_session(), actor(), asset.id, data),
        done=lambda _applied: Done(
            url_for("assets.detail", asset_id=asset.id, _anchor="scans"),
            _("The scan policy of %(code)s was saved.", code=asset.code),
        ),
        again=lambda errors: _policy_page(asset, dict(request.form), errors),
    )
