"""The drills domain's city-wide setting: the period within which every CII asset and every
department holding an operational system must be covered by a completed drill."""

from __future__ import annotations

from flask_babel import gettext as _

from secgov import settings
from secgov.codes import N_

_check, _read_form = settings.whole_number(
    "drill_coverage_months", 1, 36, lambda: _("The coverage period is a whole number of months from 1 to 36.")
)


COVERAGE_MONTHS = settings.Setting(
    "drill_coverage_months",
    lambda _config: 12,
    _check,
    type=int,
    label=N_("Drill coverage period"),
    help=N_(
        "Every CII system, and every department holding a system in operation, is covered by a completed drill "
        "within this many months."
    ),
    form="drills/settings/_coverage.html",
    read_form=_read_form,
)

SETTINGS = (COVERAGE_MONTHS,)
