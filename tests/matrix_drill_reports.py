"""Role x route rows of the drills' reports and exports: a completed drill's after-action report is
asked for through the report routes (leaders and officers, for a drill of their scope: one of
another bureau is refused, 404, audited), and drills and corrective actions are exported (CSV,
XLSX) by everyone who reads drills."""

from matrix import ALL, Route

MAKERS = frozenset({"leader", "officer"})
AAR = {"lang": "en", "kind": "after_action", "subject": "{drill_completed[in]}"}
AAR_OUT = {"lang": "en", "kind": "after_action", "subject": "{drill_completed[out]}"}

ROUTES = [
    Route(
        "api_reports.reports_create",
        "POST",
        "/api/v1/reports",
        MAKERS,
        form=AAR,
        out_of_scope_body=AAR_OUT,
        out_of_scope_status=404,
    ),  # fmt: skip
    Route("reports.create", "POST", "/reports", MAKERS, form=AAR),
    Route("registers.export_drills", "GET", "/registers/export/drills?format=csv&status=completed", ALL),
    Route("registers.export_corrective_actions", "GET", "/registers/export/corrective_actions?format=xlsx", ALL),
    Route("registers_api.drills_export", "GET", "/api/v1/drills/export?format=xlsx", ALL),
    Route("registers_api.corrective_actions_export", "GET", "/api/v1/corrective_actions/export?overdue=true", ALL),
]
