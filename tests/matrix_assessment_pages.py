"""Role x route rows of the assessments domain's pages: assessments, the due list, the risk
register. The world (tests/test_authz_matrix.py) gives each of its assets a submitted assessment
with a finding ("assessment", "finding": "<assessment>/findings/<finding>") and a moderate risk
("risk"), made by the system: no user of the world is their author."""

from datetime import date, timedelta

from matrix import ALL, ASSET_WRITERS, Route

LEADERS = frozenset({"leader"})
# Who accepts and reviews risks: the writers and leaders (leaders alone accept high ones).
RISK_DECIDERS = frozenset({"admin", "officer", "leader"})
TODAY = date.today().isoformat()
NEW_ASSESSMENT = {"asset_id": "{asset[in]}", "kind": "self_inspection", "started_on": TODAY}
NEW_RISK = {"asset_id": "{asset[in]}", "title": "Old firmware on the gateway", "likelihood": "2", "impact": "2"}

ROUTES = [
    Route("assessments.index", "GET", "/assessments", ALL),
    Route("assessments.due", "GET", "/assessments/due", ALL),
    Route("assessments.create", "GET", "/assessments/new", ASSET_WRITERS),
    Route(
        "assessments.create",
        "POST",
        "/assessments/new",
        ASSET_WRITERS,
        form=NEW_ASSESSMENT,
        out_of_scope_body={**NEW_ASSESSMENT, "asset_id": "{asset[out]}"},
    ),
    Route("assessments.detail", "GET", "/assessments/{obj}", ALL, obj="assessment"),
    Route("assessments.edit", "GET", "/assessments/{obj}/edit", ASSET_WRITERS, obj="assessment"),
    Route(
        "assessments.edit",
        "POST",
        "/assessments/{obj}/edit",
        ASSET_WRITERS,
        obj="assessment",
        form={"version": "2", "title": "Renamed", "started_on": TODAY},
    ),
    Route("assessments.submit", "POST", "/assessments/{obj}/submit", ASSET_WRITERS, obj="assessment"),
    Route("assessments.approve", "POST", "/assessments/{obj}/approve", LEADERS, obj="assessment"),
    Route(
        "assessments.return_",
        "POST",
        "/assessments/{obj}/return",
        LEADERS,
        obj="assessment",
        form={"reason": "The equipment review is missing."},
    ),
    Route("assessments.delete", "POST", "/assessments/{obj}/delete", ASSET_WRITERS, obj="assessment"),
    Route(
        "assessments.finding_add",
        "POST",
        "/assessments/{obj}/findings",
        ASSET_WRITERS,
        obj="assessment",
        form={"title": "Shared accounts", "likelihood": "3", "impact": "3"},
    ),
    Route("assessments.finding_remove", "POST", "/assessments/{obj}/delete", ASSET_WRITERS, obj="finding"),
    Route(
        "assessments.finding_promote",
        "POST",
        "/assessments/{obj}/promote",
        ASSET_WRITERS,
        obj="finding",
        form={"treatment": "reduce"},
    ),
    Route("risks.index", "GET", "/risks", ALL),
    Route("risks.heatmap", "GET", "/risks/heatmap", ALL),
    Route("risks.create", "GET", "/risks/new", ASSET_WRITERS),
    Route(
        "risks.create",
        "POST",
        "/risks/new",
        ASSET_WRITERS,
        form=NEW_RISK,
        out_of_scope_body={**NEW_RISK, "asset_id": "{asset[out]}"},
    ),
    Route("risks.detail", "GET", "/risks/{obj}", ALL, obj="risk"),
    Route("risks.edit", "GET", "/risks/{obj}/edit", ASSET_WRITERS, obj="risk"),
    Route(
        "risks.edit",
        "POST",
        "/risks/{obj}/edit",
        ASSET_WRITERS,
        obj="risk",
        form={"version": "1", "title": "Renamed risk", "likelihood": "3", "impact": "4"},
    ),
    Route(
        "risks.accept",
        "POST",
        "/risks/{obj}/accept",
        RISK_DECIDERS,
        obj="risk",
        form={"reason": "Replaced next year", "expires_on": (date.today() + timedelta(days=90)).isoformat()},
    ),
    Route("risks.review", "POST", "/risks/{obj}/review", RISK_DECIDERS, obj="risk", form={"note": "Checked on site"}),
]
