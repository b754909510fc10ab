"""The scans domain's city-wide setting: within how many days a new finding is triaged (looked at
and acknowledged, called a false positive, resolved or promoted to a risk). The appraisal counts a
finding triaged in time when it left "open" within this many days of being found."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _

from secgov import settings
from secgov.codes import N_
from secgov.errors import Invalid


def _check_days(value: Any, _config) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 90:
        raise Invalid(_("The triage time is a whole number of days from 1 to 90."), field="finding_triage_days")
    return value


def _read_form(form: settings.FormData) -> Any:
    text = form.get("finding_triage_days", "").strip()
    return int(text) if text.isdigit() else text


TRIAGE_DAYS = settings.Setting(
    "finding_triage_days",
    lambda _config: 7,
    _check_days,
    type=int,
    label=N_("Finding triage time"),
    help=N_(
        "A new scan finding is triaged (acknowledged, called a false positive, resolved or promoted to a risk) "
        "within this many days of the scan that found it."
    ),
    form="scans/settings/_triage.html",
    read_form=_read_form,
)

SETTINGS = (TRIAGE_DAYS,)
