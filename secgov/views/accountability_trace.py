"""The accountability trace's page (`/accountability/trace?kind=…&id=…`): what went wrong, and the
people who answered for it at that moment, from the sub-item owner up to the city's chief, in
words a leader reads at a glance. The same service as the API (secgov.accountability.trace), in
the reader's scope; without a kind and an id, a form to ask for one."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request, url_for
from flask_babel import gettext as _
from sqlmodel import Session

from secgov import snapshots
from secgov.accountability import trace
from secgov.authz import Actor, roles
from secgov.codes import ROLES
from secgov.errors import Invalid, ServiceError
from secgov.web import actor, can, get_session, service_config, settle

bp = Blueprint("accountability_trace", __name__, url_prefix="/accountability")

# The API's limits on the query (secgov.api.accountability_trace.TraceQuery).
KIND_LENGTH, ID_LENGTH = 40, 80


def _record_link(session: Session, reader: Actor, lapse: trace.Lapse) -> str | None:
    """The page of the record that went wrong, when there is one the reader may open (the audit
    vocabulary says which page shows which kind of record)."""
    kind = current_app.extensions["secgov_registry"].audit_vocabulary.objects.get(lapse.record_type)
    if kind is None or not kind.endpoint or not can(kind.endpoint):
        return None
    located = (
        kind.locate(session, reader, [str(lapse.record_id)]) if kind.locate else {str(lapse.record_id): lapse.record_id}
    )
    if str(lapse.record_id) not in located:
        return None
    arguments = {kind.argument: located[str(lapse.record_id)]} if kind.argument else {}
    return url_for(kind.endpoint, **arguments)


def _asked() -> tuple[str, str]:
    """The kind and the id asked for; Invalid when only one is given or either is too long."""
    kind, ref = request.args.get("kind", "").strip(), request.args.get("id", "").strip()
    if bool(kind) != bool(ref):
        raise Invalid(_("Give both the kind of lapse and the record's id."), field="kind" if not kind else "id")
    if len(kind) > KIND_LENGTH or len(ref) > ID_LENGTH:
        raise Invalid(_("The kind or the id is too long."), field="id")
    return kind, ref


@bp.get("/trace")
@roles(*ROLES)
def index():
    """Who answered for a record when it went wrong: the sub-item owner, the department head and
    the city's chief, each with their term, who assigned it and why, and any later correction."""
    registry = current_app.extensions["secgov_registry"]
    sources = registry.trace_sources
    kinds = sorted(((code, _(source.label)) for code, source in sources.items()), key=lambda k: k[1])
    kind, ref = request.args.get("kind", "").strip(), request.args.get("id", "").strip()
    found, link, error, status = None, None, None, 200
    try:
        kind, ref = _asked()
        if kind:
            db, who = get_session(), actor()
            config = service_config()
            found = trace.trace(db, who, sources, kind, ref, config, snapshots.local_today(config.timezone))
            link = _record_link(db, who, found.lapse)
    except ServiceError as exc:
        settle(exc)  # the work rolled back; an out-of-scope look-up audited once the answer is sent
        found, error, status = None, exc.message, exc.status
    page = render_template(
        "accountability/trace.html",
        found=found,
        record_link=link,
        kinds=kinds,
        kind=kind[:KIND_LENGTH],
        ref=ref[:ID_LENGTH],
        error=error,
        status=status,
        label=_(found.label) if found else "",
    )
    return page, status
