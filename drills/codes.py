"""The drills domain's code lists, each declared once: schemas, forms, the API and the labels of
the pages derive from these (see secgov.codes). Exercise types, capability ratings and incident
grades come from the domain catalog (HSEEP; the national emergency plan)."""

from __future__ import annotations

from secgov import catalog
from secgov.codes import N_, CodeList

_EXERCISES = catalog.domain()["exercise_types"]
_GRADES = catalog.domain()["incident_grades"]

EXERCISE_TYPE = CodeList.from_catalog("exercise_type", _EXERCISES["items"])
# Discussion-based exercises (seminar, workshop, tabletop, game) and operations-based ones.
OPERATIONS_BASED = tuple(item["code"] for item in _EXERCISES["items"] if item["based"] == "operations")
RATING = CodeList.from_catalog("capability_rating", _EXERCISES["capability_ratings"])
INCIDENT_GRADE = CodeList.from_catalog("incident_grade", _GRADES["items"])
# Grades from the most severe (I) to the least (IV).
GRADES: tuple[str, ...] = tuple(item["code"] for item in _GRADES["items"])
# An incident of this grade or a more severe one is reported; less severe ones (IV) are not.
REPORTABLE_FROM = _GRADES["reportable_from_grade"]
# Minutes within which each kind of operator reports an incident (codes.OPERATOR_KIND).
REPORT_WITHIN: dict[str, int] = dict(_GRADES["report_within_minutes"])

DRILL_STATUS = CodeList.of(
    "drill_status",
    {
        "planned": N_("Planned"),
        "in_progress": N_("In progress"),
        "completed": N_("Completed"),
        "cancelled": N_("Cancelled"),
    },
)
# A drill in one of these states is over: it is no longer edited, only its report and actions are.
FINISHED = ("completed", "cancelled")

AAR_STATUS = CodeList.of(
    "aar_status",
    {"draft": N_("Draft"), "approved": N_("Approved")},
)

MILESTONE = CodeList.of(
    "drill_milestone",
    {
        "detected": N_("Detected"),
        "reported": N_("Reported"),
        "contained": N_("Contained"),
        "recovered": N_("Recovered"),
    },
)

ACTION_STATUS = CodeList.of(
    "action_status",
    {
        "open": N_("Open"),
        "in_progress": N_("In progress"),
        "closed": N_("Closed"),
        "cancelled": N_("Cancelled"),
    },
)
# An action in one of these states still has work to do (and can be overdue).
ACTION_OPEN = ("open", "in_progress")

REQUEST_STATUS = CodeList.of(
    "drill_request_status",
    {"open": N_("Waiting to be scheduled"), "scheduled": N_("Scheduled"), "declined": N_("Declined")},
)

# How a drill's reporting compares with its deadline (`drills.rule.reporting`).
REPORTING = CodeList.of(
    "drill_reporting",
    {
        "on_time": N_("Reported on time"),
        "late": N_("Reported late"),
        "missing": N_("Not reported"),
        "not_reportable": N_("Not reportable"),
        "pending": N_("Not reported yet"),
    },
)

ALL = (
    EXERCISE_TYPE,
    RATING,
    INCIDENT_GRADE,
    DRILL_STATUS,
    AAR_STATUS,
    MILESTONE,
    ACTION_STATUS,
    REQUEST_STATUS,
    REPORTING,
)
