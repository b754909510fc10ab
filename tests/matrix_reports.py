"""Role x route rows of the leadership reports: the archive is read in scope by leaders, officers
and auditors; leaders and officers ask for reports of their scope (a department's compliance report,
an asset's dossier)."""

from matrix import Route

READERS = frozenset({"leader", "officer", "auditor"})
MAKERS = frozenset({"leader", "officer"})

ROUTES = [
    Route("reports.index", "GET", "/reports", READERS),
    Route("reports.create", "POST", "/reports", MAKERS, form={"lang": "en"}),
    Route("reports.detail", "GET", "/reports/{obj}", READERS, obj="report"),
    Route("reports.download", "GET", "/reports/{obj}/file", READERS, obj="report"),
    Route("reports.attachment", "GET", "/reports/{obj}/files/registers.csv", READERS, obj="report"),
    Route(
        "api_reports.reports_create",
        "POST",
        "/api/v1/reports",
        MAKERS,
        form={"lang": "en"},
        out_of_scope_body={"lang": "en", "department": "b"},
        out_of_scope_status=404,
    ),
    # An asset's dossier: asked for by its code, refused (404, audited) for an asset of another bureau.
    Route(
        "api_reports.reports_create",
        "POST",
        "/api/v1/reports",
        MAKERS,
        form={"lang": "en", "kind": "dossier", "asset": "A-IN"},
        out_of_scope_body={"lang": "en", "kind": "dossier", "asset": "A-OUT"},
        out_of_scope_status=404,
    ),
    Route("reports.create", "POST", "/reports", MAKERS, form={"lang": "en", "kind": "dossier", "subject": "A-IN"}),
    Route("api_reports.reports_list", "GET", "/api/v1/reports", READERS),
    Route("api_reports.reports_get", "GET", "/api/v1/reports/{obj}", READERS, obj="report"),
    Route("api_reports.reports_file", "GET", "/api/v1/reports/{obj}/file", READERS, obj="report"),
    Route("api_reports.reports_attachment", "GET", "/api/v1/reports/{obj}/files/registers.csv", READERS, obj="report"),
]
