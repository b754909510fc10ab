"""A report's HTML, rendered by the app's Jinja environment in the report's language.

Kept apart from the service (`secgov.reports.service`), which never imports Flask: rendering
needs the application's templates and translations, so it runs inside an app context (a worker's,
or the command line's)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask import current_app
from flask_babel import force_locale

from secgov.models import Report
from secgov.reports.chapters import Chapter, Scope
from secgov.reports.kinds import COMPLIANCE, ReportKind


def render_html(
    report: Report,
    scope: Scope,
    data: Mapping[str, Any],
    chapters: Sequence[Chapter],
    reader: str,
    input_sha256: str,
    head: tuple[int, str],
    kind: ReportKind = COMPLIANCE,
) -> str:
    """The report's HTML in its language, from its kind's template (Jinja autoescaping on: the
    templates end in .html). Rendered without the page frame's context processors (which read the request's user and
    session: a worker has neither, and a request must not open its database session again here)."""
    with force_locale(report.lang):
        return current_app.jinja_env.get_template(kind.template).render(
            report=report,
            kind=kind,
            scope=scope,
            data=data,
            chapters=[(number, chapter) for number, chapter in enumerate(chapters, start=1)],
            reader=reader,
            input_sha256=input_sha256,
            head=head,
            lang=report.lang,
        )
