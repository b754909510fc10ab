"""The audit log page and the chain check, for auditors and admins."""

from __future__ import annotations

import json

from flask import Blueprint, render_template, request
from flask_babel import gettext as _

from secgov import audit
from secgov.audit import AuditFilter, list_entries
from secgov.authz import roles
from secgov.pages import int_arg
from secgov.web import actor, get_session

bp = Blueprint("audit", __name__, url_prefix="/audit")


def problem_label(result: audit.Verification) -> str:
    """Why a chain check failed, in the reader's language."""
    labels = {
        "missing": _("Entry %(seq)d is missing.", seq=result.bad_seq or 0),
        "broken_link": _("The link to the previous entry is broken."),
        "hash_mismatch": _("The content does not match its hash."),
        "ends_before_head": _("The chain ends before the recorded head %(seq)d.", seq=result.bad_seq or 0),
        "head_mismatch": _("The recorded head does not match."),
    }
    return labels.get(result.problem, result.reason)


@bp.get("")
@roles("auditor", "admin")
def index():
    """Audit entries in scope, newest first, filtered by actor, action and dates."""
    filters = AuditFilter.from_args(request.args)
    page = int_arg("page", 1)
    entries, total = list_entries(get_session(), actor(), filters, page=page, page_size=50)
    details = {e.seq: json.loads(e.detail or "{}") for e in entries}
    return render_template(
        "audit/index.html", entries=entries, details=details, total=total, page=page, page_size=50, filters=filters
    )


@bp.get("/verify")
@roles("auditor", "admin")
def verify():
    """Check the whole chain and show the result with the current head."""
    result = audit.verify(get_session())
    return render_template("audit/verify.html", result=result, reason=problem_label(result))
