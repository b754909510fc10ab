"""Role x route rows of the assessments and the risk register (API)."""

from datetime import UTC, datetime, timedelta

from matrix import ALL, ASSET_WRITERS, Route

# Who decides on assessments; who may call /accept (the service refuses severe risks to non-leaders).
LEADERS = frozenset({"leader"})
ACCEPTING = frozenset({"admin", "officer", "leader"})

NEW_ASSESSMENT = {"asset_id": "{asset[in]}", "kind": "self_inspection", "started_on": "2025-01-06"}
NEW_RISK = {"asset_id": "{asset[in]}", "title": "Flooded server room", "likelihood": 2, "impact": 3}
PROMOTION = {"source": "assessment_finding", "source_id": "{finding_id[in]}"}
EXPIRES = (datetime.now(UTC).date() + timedelta(days=90)).isoformat()

ROUTES = [
    Route("assessments_api.assessments_list", "GET", "/api/v1/assessments", ALL),
    Route(
        "assessments_api.assessments_create",
        "POST",
        "/api/v1/assessments",
        ASSET_WRITERS,
        form=NEW_ASSESSMENT,
        out_of_scope_body={**NEW_ASSESSMENT, "asset_id": "{asset[out]}"},
    ),
    Route("assessments_api.assessments_due", "GET", "/api/v1/assessments/due", ALL),
    Route("assessments_api.assessments_get", "GET", "/api/v1/assessments/{obj}", ALL, obj="assessment"),
    Route(
        "assessments_api.assessments_update",
        "PATCH",
        "/api/v1/assessments/{obj}",
        ASSET_WRITERS,
        obj="assessment",
        form={"title": "Renamed", "version": 1},
    ),
    Route("assessments_api.assessments_delete", "DELETE", "/api/v1/assessments/{obj}", ASSET_WRITERS, obj="assessment"),
    Route(
        "assessments_api.assessments_submit",
        "POST",
        "/api/v1/assessments/{obj}/submit",
        ASSET_WRITERS,
        obj="assessment",
    ),
    Route(
        "assessments_api.assessments_approve",
        "POST",
        "/api/v1/assessments/{obj}/approve",
        LEADERS,
        obj="assessment_submitted",
    ),
    Route(
        "assessments_api.assessments_return",
        "POST",
        "/api/v1/assessments/{obj}/return",
        LEADERS,
        obj="assessment_submitted",
        form={"reason": "The network areas are not rated."},
    ),
    Route(
        "assessments_api.findings_create",
        "POST",
        "/api/v1/assessments/{obj}/findings",
        ASSET_WRITERS,
        obj="assessment",
        form={"title": "Shared administrator password", "likelihood": 3, "impact": 4},
    ),
    Route("assessments_api.findings_delete", "DELETE", "/api/v1/assessments/{obj}", ASSET_WRITERS, obj="finding"),
    Route(
        "assessments_api.findings_promote", "POST", "/api/v1/assessments/{obj}/promote", ASSET_WRITERS, obj="finding"
    ),
    Route("risks_api.risks_list", "GET", "/api/v1/risks", ALL),
    Route(
        "risks_api.risks_create",
        "POST",
        "/api/v1/risks",
        ASSET_WRITERS,
        form=NEW_RISK,
        out_of_scope_body={**NEW_RISK, "asset_id": "{asset[out]}"},
    ),
    Route(
        "risks_api.risks_promote",
        "POST",
        "/api/v1/risks/promote",
        ASSET_WRITERS,
        form=PROMOTION,
        out_of_scope_body={**PROMOTION, "source_id": "{finding_id[out]}"},
    ),
    Route("risks_api.risks_heatmap", "GET", "/api/v1/risks/heatmap", ALL),
    Route("risks_api.risks_counts", "GET", "/api/v1/risks/counts", ALL),
    Route("risks_api.risks_get", "GET", "/api/v1/risks/{obj}", ALL, obj="risk"),
    Route(
        "risks_api.risks_update",
        "PATCH",
        "/api/v1/risks/{obj}",
        ASSET_WRITERS,
        obj="risk",
        form={"treatment_plan": "Move the servers upstairs.", "version": 1},
    ),
    Route(
        "risks_api.risks_accept",
        "POST",
        "/api/v1/risks/{obj}/accept",
        ACCEPTING,
        obj="risk",
        form={"reason": "Cheaper to bear than to treat.", "expires_on": EXPIRES},
    ),
    Route("risks_api.risks_acceptances", "GET", "/api/v1/risks/{obj}/acceptances", ALL, obj="risk"),
    Route(
        "risks_api.risks_review",
        "POST",
        "/api/v1/risks/{obj}/reviews",
        ASSET_WRITERS,
        obj="risk",
        form={"note": "Unchanged since the last review."},
    ),
    Route("risks_api.risks_reviews", "GET", "/api/v1/risks/{obj}/reviews", ALL, obj="risk"),
]
