"""The scans domain's city-wide setting: within how many days a new finding is triaged (looked at
and acknowledged, called a false positive, resolved or promoted to a risk). The appraisal counts a
finding triaged in time when it left "open" within this many days of being found."""

from __future__ import annotations

from flask_babel import gettext as _

from secgov import settings
from secgov.codes import N_

_check, _read_form = settings.whole_number(
    "finding_triage_days", 1, 90, lambda: _("The triage time is a whole number of days from 1 to 90.")
)


TRIAGE_DAYS = settings.Setting(
    "finding_triage_days",
    lambda _config: 7,
    _check,
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
