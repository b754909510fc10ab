"""The drills domain's city-wide setting: the period within which every CII asset and every
department holding an operational system must be covered by a completed drill."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _

from secgov import settings
from secgov.codes import N_
from secgov.errors import Invalid


def _check_months(value: Any, _config) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 36:
        raise Invalid(_("The coverage period is a whole number of months from 1 to 36."), field="drill_coverage_months")
    return value


def _read_form(form: settings.FormData) -> Any:
    text = form.get("drill_coverage_months", "").strip()
    return int(text) if text.isdigit() else text


COVERAGE_MONTHS = settings.Setting(
    "drill_coverage_months",
    lambda _config: 12,
    _check_months,
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
