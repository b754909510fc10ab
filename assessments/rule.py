"""The methodology of assessments and risks, stated once (pure: no database): the risk matrix,
area ratings, the overall score and its conclusion, the intervals at which assessments fall due,
and how often risks are reviewed. The city-wide settings that configure them are declared here;
the services load rows and hand them to these functions.

- A risk's level: the matrix in force maps likelihood × impact (1–5 each) to one of five levels:
  NIST SP 800-30 Rev. 1 table I-2 by default, or the 5×5 multiplication profile (product 1–2
  very low, 3–4 low, 5–9 moderate, 10–16 high, 20–25 very high).
- An area's rating (0–100): the share of the area's required controls implemented, a partly
  implemented control counting half and a not-applicable one left out; the assessor may set
  another rating with a written reason. An area with no applicable control has no rating.
- The overall score: the weighted mean of the rated areas (equal weights by default). An
  outside agency's evaluation records the agency's score instead.
- The conclusion: excellent ≥ 90, good ≥ 80, fair ≥ 70, else poor; poor whenever a high or very
  high risk of the asset is open (an approved acceptance that has not expired closes it).
- Due dates: each kind's interval in months after the last approved assessment of that kind, or
  after the grading date (CII designation) when there is none."""

from __future__ import annotations

import calendar
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask_babel import gettext as _

from assessments.codes import LEVELS, MATRIX_PROFILE, SEVERE
from secgov import catalog, settings
from secgov.codes import AREA, N_
from secgov.config import ServiceConfig
from secgov.errors import Invalid

# --- the risk matrix -----------------------------------------------------------------------------

_TABLE_I2 = catalog.domain()["risk_scales"]["nist_800_30_table_i2"]
# NIST SP 800-30 table I-2: rows by likelihood, columns by impact 1..5.
NIST = {(lik, imp): _TABLE_I2[str(lik)][imp - 1] for lik in range(1, 6) for imp in range(1, 6)}
# Upper bounds of the product likelihood × impact for each level of the multiplication profile.
PRODUCT_BOUNDS = ((2, "very_low"), (4, "low"), (9, "moderate"), (16, "high"), (25, "very_high"))


def _by_product(likelihood: int, impact: int) -> str:
    product = likelihood * impact
    return next(level for bound, level in PRODUCT_BOUNDS if product <= bound)


MULTIPLICATION = {(lik, imp): _by_product(lik, imp) for lik in range(1, 6) for imp in range(1, 6)}
MATRICES: Mapping[str, Mapping[tuple[int, int], str]] = {"nist_800_30": NIST, "multiplication": MULTIPLICATION}
DEFAULT_MATRIX = "nist_800_30"


def level_of(likelihood: int, impact: int, profile: str = DEFAULT_MATRIX) -> str:
    """The level of a risk of this likelihood and impact (1–5 each) under the profile."""
    if not (1 <= likelihood <= 5 and 1 <= impact <= 5):
        raise ValueError("likelihood and impact run from 1 to 5")
    return MATRICES[profile][(likelihood, impact)]


def is_severe(level: str) -> bool:
    return level in SEVERE


# --- ratings, score, conclusion ------------------------------------------------------------------

RATED = ("implemented", "partial", "planned", "not_implemented")


def area_rating(statuses: Iterable[str]) -> float | None:
    """The rating of an area from its required controls' statuses: implemented 1, partial ½,
    planned and not implemented 0; not applicable left out. None when nothing applies."""
    counted = [s for s in statuses if s in RATED]
    if not counted:
        return None
    points = sum(1.0 if s == "implemented" else 0.5 if s == "partial" else 0.0 for s in counted)
    return round(100.0 * points / len(counted), 1)


def overall_score(ratings: Mapping[str, float | None], weights: Mapping[str, float]) -> float | None:
    """The weighted mean of the rated areas (an area without a rating or weight is left out)."""
    pairs = [(r, weights.get(area, 0.0)) for area, r in ratings.items() if r is not None]
    total = sum(w for _r, w in pairs)
    if not pairs or total <= 0:
        return None
    return round(sum(r * w for r, w in pairs) / total, 1)


def conclusion_of(score: float | None, thresholds: Mapping[str, float], severe_risk_open: bool) -> str:
    """excellent / good / fair / poor from the score; poor whenever a high or very-high risk of the
    asset is open, and when there is no score at all."""
    if severe_risk_open or score is None:
        return "poor"
    for code in ("excellent", "good", "fair"):
        if score >= thresholds[code]:
            return code
    return "poor"


# --- due dates -----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8192)
def add_months(day: date, months: int) -> date:
    """The same day months later (the month's last day when it has fewer days)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class AssetFacts:
    """What decides which assessments an asset needs: its grade, CII status and lifecycle."""

    asset_id: int
    mlps_level: int | None
    is_cii: bool
    lifecycle: str
    graded_on: date | None  # when it was graded at its current level
    cii_designated_on: date | None


@dataclass(frozen=True)
class Due:
    """The next required assessment of one kind for one asset, and what it follows from."""

    asset_id: int
    kind: str
    interval_months: int
    due_on: date
    last_on: date | None  # the last approved assessment of the kind (None: never assessed)
    last_id: int | None

    def state(self, today: date, soon_days: int) -> str:
        if self.due_on < today:
            return "overdue"
        if (self.due_on - today).days <= soon_days:
            return "due_soon"
        return "on_time"


# Assets whose assessments fall due: in operation or being built (planned and retired ones not).
ASSESSED_LIFECYCLES = ("operational", "building")


def required_kinds(facts: AssetFacts, intervals: Mapping[str, Any]) -> dict[str, tuple[int, date | None]]:
    """The kinds of assessment the asset needs, each with its interval in months and the date its
    first one counts from (grading or CII designation)."""
    if facts.lifecycle not in ASSESSED_LIFECYCLES:
        return {}
    kinds: dict[str, tuple[int, date | None]] = {}
    if facts.mlps_level is not None:
        months = intervals["mlps_evaluation"].get(str(facts.mlps_level))
        if months:
            kinds["mlps_evaluation"] = (months, facts.graded_on)
        if intervals["self_inspection"]:
            kinds["self_inspection"] = (intervals["self_inspection"], facts.graded_on)
    if facts.is_cii and intervals["cii_annual"]:
        kinds["cii_annual"] = (intervals["cii_annual"], facts.cii_designated_on or facts.graded_on)
    return kinds


def due_dates(
    facts: AssetFacts, last: Mapping[str, tuple[date, int]], intervals: Mapping[str, Any], fallback: date
) -> list[Due]:
    """The next due date of each kind the asset needs: the last approved one's date plus the
    interval; never assessed, the grading date (CII designation) plus the interval, or `fallback`
    (the asset's registration) plus the interval when that date is unknown."""
    result = []
    for kind, (months, since) in required_kinds(facts, intervals).items():
        last_on, last_id = last.get(kind, (None, None))
        start = last_on or since or fallback
        result.append(Due(facts.asset_id, kind, months, add_months(start, months), last_on, last_id))
    return result


def review_due(level: str, last_reviewed: date, review_months: Mapping[str, int]) -> date:
    """When a risk of this level, last reviewed (or registered) on last_reviewed, is next reviewed."""
    return add_months(last_reviewed, review_months[level])


# --- the settings --------------------------------------------------------------------------------


def _intervals_default(_config: ServiceConfig) -> dict:
    levels = catalog.domain()["mlps_levels"]["items"]
    return {
        "mlps_evaluation": {
            str(i["level"]): i["evaluation_every_months"] for i in levels if i["evaluation_every_months"]
        },
        "cii_annual": catalog.domain()["cii"]["assessment_every_months"],
        "self_inspection": catalog.domain()["self_inspection"]["every_months"],
        "due_soon_days": 30,
    }


def _months(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 60:
        raise Invalid(_("An interval is a whole number of months from 0 (never) to 60."), field=field)
    return value


def _check_intervals(value: Any, _config: ServiceConfig) -> dict:
    keys = {"mlps_evaluation", "cii_annual", "self_inspection", "due_soon_days"}
    if not isinstance(value, dict) or set(value) != keys or not isinstance(value["mlps_evaluation"], dict):
        raise Invalid(_("The assessment intervals setting is malformed."), field="assessment_intervals")
    mlps = value["mlps_evaluation"]
    if not set(mlps) <= {"1", "2", "3", "4", "5"}:
        raise Invalid(_("The assessment intervals setting is malformed."), field="mlps_evaluation")
    soon = value["due_soon_days"]
    if isinstance(soon, bool) or not isinstance(soon, int) or not 1 <= soon <= 180:
        raise Invalid(_("Due soon is a number of days from 1 to 180."), field="due_soon_days")
    return {
        "mlps_evaluation": {k: _months(mlps[k], "mlps_evaluation") for k in sorted(mlps) if mlps[k]},
        "cii_annual": _months(value["cii_annual"], "cii_annual"),
        "self_inspection": _months(value["self_inspection"], "self_inspection"),
        "due_soon_days": soon,
    }


def _read_intervals_form(form: settings.FormData) -> dict:
    def number(key: str) -> Any:
        text = form.get(key, "").strip()
        return int(text) if text.isdigit() else (0 if text == "" else text)

    return {
        "mlps_evaluation": {str(level): number(f"mlps_{level}") for level in range(1, 6)},
        "cii_annual": number("cii_annual"),
        "self_inspection": number("self_inspection"),
        "due_soon_days": number("due_soon_days"),
    }


INTERVALS = settings.Setting(
    "assessment_intervals",
    _intervals_default,
    _check_intervals,
    type=dict[str, Any],
    label=N_("Assessment intervals"),
    help=N_(
        "Months between required assessments: MLPS evaluations by level, the CII annual assessment and the "
        "self-inspection of every graded system (0: not required); and how many days before its due date an "
        "assessment is due soon."
    ),
    form="assessments/settings/_intervals.html",
    read_form=_read_intervals_form,
)


def _method_default(_config: ServiceConfig) -> dict:
    return {
        "weights": {code: 1 for code in AREA.codes},
        "thresholds": {
            i["code"]: i["min_score"]
            for i in catalog.domain()["evaluation_conclusions"]["items"]
            if i["code"] != "poor"
        },
    }


def _number(value: Any, low: float, high: float, field: str, message: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise Invalid(message, field=field)
    return int(value) if float(value).is_integer() else float(value)


def _check_method(value: Any, _config: ServiceConfig) -> dict:
    if (
        not isinstance(value, dict)
        or set(value) != {"weights", "thresholds"}
        or not isinstance(value["weights"], dict)
        or not isinstance(value["thresholds"], dict)
        or set(value["weights"]) != set(AREA.codes)
        or set(value["thresholds"]) != {"excellent", "good", "fair"}
    ):
        raise Invalid(_("The assessment scoring setting is malformed."), field="assessment_scoring")
    weights = {
        code: _number(value["weights"][code], 0, 100, code, _("A weight is a number from 0 to 100."))
        for code in AREA.codes
    }
    if not any(weights.values()):
        raise Invalid(_("At least one area must have a weight."), field="weights")
    thresholds = {
        code: _number(value["thresholds"][code], 0, 100, code, _("A threshold is a score from 0 to 100."))
        for code in ("excellent", "good", "fair")
    }
    if not thresholds["excellent"] > thresholds["good"] > thresholds["fair"]:
        raise Invalid(_("The thresholds must fall from excellent to good to fair."), field="thresholds")
    return {"weights": weights, "thresholds": thresholds}


def _read_method_form(form: settings.FormData) -> dict:
    def number(key: str) -> Any:
        text = form.get(key, "").strip()
        try:
            return float(text)
        except ValueError:
            return text

    return {
        "weights": {code: number(f"weight_{code}") for code in AREA.codes},
        "thresholds": {code: number(f"threshold_{code}") for code in ("excellent", "good", "fair")},
    }


SCORING = settings.Setting(
    "assessment_scoring",
    _method_default,
    _check_method,
    type=dict[str, Any],
    label=N_("Assessment scoring"),
    help=N_(
        "The weight of each of the six areas in the overall score, and the lowest score of each conclusion "
        "(below fair: poor)."
    ),
    form="assessments/settings/_scoring.html",
    read_form=_read_method_form,
)


def _matrix_default(_config: ServiceConfig) -> str:
    return DEFAULT_MATRIX


def _check_matrix(value: Any, _config: ServiceConfig) -> str:
    if value not in MATRIX_PROFILE:
        raise Invalid(_("Unknown risk matrix: choose NIST SP 800-30 or multiplication."), field="risk_matrix")
    return value


MATRIX = settings.Setting(
    "risk_matrix",
    _matrix_default,
    _check_matrix,
    type=MATRIX_PROFILE.literal,
    label=N_("Risk matrix"),
    help=N_("How a risk's likelihood and impact give its level. Changing it recomputes every stored level."),
    form="assessments/settings/_matrix.html",
    read_form=lambda form: form.get("risk_matrix", ""),
)


def _reviews_default(_config: ServiceConfig) -> dict:
    return {"very_high": 1, "high": 3, "moderate": 6, "low": 12, "very_low": 12}


def _check_reviews(value: Any, _config: ServiceConfig) -> dict:
    if not isinstance(value, dict) or set(value) != set(LEVELS):
        raise Invalid(_("The risk review intervals setting is malformed."), field="risk_review_months")
    result = {}
    for level in LEVELS:
        months = value[level]
        if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= 24:
            raise Invalid(_("A review interval is a whole number of months from 1 to 24."), field=level)
        result[level] = months
    return result


def _read_reviews_form(form: settings.FormData) -> dict:
    def number(key: str) -> Any:
        text = form.get(key, "").strip()
        return int(text) if text.isdigit() else text

    return {level: number(f"review_{level}") for level in LEVELS}


REVIEWS = settings.Setting(
    "risk_review_months",
    _reviews_default,
    _check_reviews,
    type=dict[str, int],
    label=N_("Risk review intervals"),
    help=N_("Months between reviews of an open risk, by its level."),
    form="assessments/settings/_reviews.html",
    read_form=_read_reviews_form,
)

SETTINGS = (INTERVALS, SCORING, MATRIX, REVIEWS)


@dataclass(frozen=True)
class Method:
    """Every setting of the methodology, read once for a request or a job."""

    intervals: Mapping[str, Any]
    weights: Mapping[str, float]
    thresholds: Mapping[str, float]
    matrix: str
    review_months: Mapping[str, int]

    @property
    def soon_days(self) -> int:
        return int(self.intervals["due_soon_days"])


def method(session, config: ServiceConfig) -> Method:
    values = settings.values(session, SETTINGS, config)
    scoring = values["assessment_scoring"]
    return Method(
        intervals=values["assessment_intervals"],
        weights=scoring["weights"],
        thresholds=scoring["thresholds"],
        matrix=values["risk_matrix"],
        review_months=values["risk_review_months"],
    )
