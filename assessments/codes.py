"""The assessments domain's code lists, each declared once: schemas, forms, the API and the
labels of the pages derive from these (see secgov.codes). The six areas are the core's `AREA`."""

from __future__ import annotations

from secgov import catalog
from secgov.codes import N_, CodeList

ASSESSMENT_KIND = CodeList.of(
    "assessment_kind",
    {
        "self_inspection": N_("Self-inspection"),
        "mlps_evaluation": N_("MLPS evaluation"),
        "cii_annual": N_("CII annual assessment"),
        "ad_hoc": N_("Ad-hoc assessment"),
    },
)
# The kinds that follow a required interval (an ad-hoc assessment is never due).
SCHEDULED_KINDS = ("self_inspection", "mlps_evaluation", "cii_annual")
# The kinds an outside agency may carry out, recording its own score.
AGENCY_KINDS = ("mlps_evaluation", "cii_annual")

ASSESSMENT_STATUS = CodeList.of(
    "assessment_status",
    {
        "draft": N_("Draft"),
        "submitted": N_("Submitted"),
        "approved": N_("Approved"),
        "returned": N_("Returned"),
    },
)
CONCLUSION = CodeList.of(
    "conclusion", {"excellent": N_("Excellent"), "good": N_("Good"), "fair": N_("Fair"), "poor": N_("Poor")}
)
RISK_LEVEL = CodeList.from_catalog("risk_level", catalog.domain()["risk_scales"]["levels"])
# Levels from lowest to highest, and their rank (1..5).
LEVELS: tuple[str, ...] = tuple(item["code"] for item in catalog.domain()["risk_scales"]["levels"])
RANK = {code: rank for rank, code in enumerate(LEVELS, start=1)}
# A risk at these levels makes its asset's assessments poor while open, and only a leader accepts it.
SEVERE = ("high", "very_high")

TREATMENT = CodeList.from_catalog("treatment", catalog.domain()["risk_scales"]["treatments"])
RISK_SOURCE = CodeList.of(
    "risk_source",
    {
        "assessment": N_("Assessment"),
        "scan_finding": N_("Scan finding"),
        "drill": N_("Drill"),
        "manual": N_("Entered by hand"),
    },
)
RISK_STATUS = CodeList.of(
    "risk_status",
    {
        "open": N_("Open"),
        "in_treatment": N_("In treatment"),
        "accepted": N_("Accepted"),
        "closed": N_("Closed"),
    },
)
# Statuses of a risk that still needs work (an accepted risk is reopened when its acceptance lapses).
LIVE_STATUSES = ("open", "in_treatment")
ACCEPTANCE_STATUS = CodeList.of(
    "acceptance_status",
    {
        "active": N_("In force"),
        "expired": N_("Expired"),
        "revoked": N_("Revoked"),
    },
)
MATRIX_PROFILE = CodeList.of(
    "matrix_profile",
    {
        "nist_800_30": N_("NIST SP 800-30 table I-2"),
        "multiplication": N_("5×5 multiplication (likelihood × impact)"),
    },
)
DUE_STATE = CodeList.of(
    "due_state",
    {"on_time": N_("On time"), "due_soon": N_("Due soon"), "overdue": N_("Overdue"), "never": N_("Never assessed")},
)
# What a reminder about a risk is about (the daily job's e-mail, `assessments.jobs`).
REMINDER_REASON = CodeList.of(
    "reminder_reason",
    {
        "treatment_overdue": N_("Treatment overdue"),
        "review_overdue": N_("Review overdue"),
        "acceptance_expiring": N_("Acceptance ending soon"),
    },
)
SCALE = CodeList.of(
    "risk_scale",
    {1: N_("1 very low"), 2: N_("2 low"), 3: N_("3 moderate"), 4: N_("4 high"), 5: N_("5 very high")},
)

ALL = (
    ASSESSMENT_KIND,
    ASSESSMENT_STATUS,
    CONCLUSION,
    RISK_LEVEL,
    TREATMENT,
    RISK_SOURCE,
    RISK_STATUS,
    ACCEPTANCE_STATUS,
    MATRIX_PROFILE,
    DUE_STATE,
    REMINDER_REASON,
    SCALE,
)
