"""The audit log page and the chain check, for auditors and admins."""

from __future__ import annotations

import json

from flask import Blueprint, render_template, request

from secgov import audit
from secgov.audit import AuditFilter, list_entries
from secgov.authz import require_user, roles
from secgov.db import get_session
from secgov.forms import int_arg

bp = Blueprint("audit", __name__, url_prefix="/audit")


@bp.get("")
@roles("auditor", "admin")
def index():
    """Audit entries in scope, newest first, filtered by actor, action and dates."""
    filters = AuditFilter.from_args(request.args)
    page = int_arg("page", 1)
    entries, total = list_entries(get_session(), require_user(), filters, page=page, page_size=50)
    details = {e.seq: json.loads(e.detail or "{}") for e in entries}
    return render_template(
        "audit/index.html", entries=entries, details=details, total=total, page=page, page_size=50, filters=filters
    )


@bp.get("/verify")
@roles("auditor", "admin")
def verify():
    """Check the whole chain and show the result with the current head."""
    result = audit.verify(get_session())
    return render_template("audit/verify.html", result=result)
