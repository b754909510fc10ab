"""Role x route rows of the drills domain (API): drills, their timeline, comments and improvement
plans, coverage, corrective actions and leaders' requests. Object kinds (tests/test_authz_matrix.py's
world, per side): "drill" (planned), "drill_completed" (its after-action report a draft),
"drill_running" (in progress since a week), "drill_entry" ("<completed drill>/timeline/<entry>"),
"corrective_action" (the victim's, of the completed drill), "own_action" (the caller's own action
of the completed drill in scope; outside: the victim's of the other side), "drill_request" (open)."""

from datetime import UTC, datetime, timedelta

from matrix import ALL, Route

WRITERS = frozenset({"admin", "drill_team"})
COMMENTERS = frozenset({"admin", "officer", "drill_team"})
LEADERS = frozenset({"leader"})
PROMOTERS = frozenset({"admin", "officer", "drill_team"})

NOW = datetime.now(UTC).replace(microsecond=0)
DUE = (NOW + timedelta(days=30)).date().isoformat()
NEW_DRILL = {
    "title": "Matrix drill",
    "exercise_type": "tabletop",
    "incident_grade": "II",
    "lead": "victim.a1",
    "planned_start": (NOW + timedelta(days=20)).isoformat(),
    "duration_minutes": 60,
    "department": "a1",
}
NEW_REQUEST = {"title": "Drill the signals", "due_by": DUE, "department": "a1"}
DRILL = "/api/v1/drills/{obj}"
ACTION = "/api/v1/corrective-actions/{obj}"
REQUEST = "/api/v1/drill-requests/{obj}"

ROUTES = [
    Route("drills_api.drills_list", "GET", "/api/v1/drills", ALL),
    Route(
        "drills_api.drills_create",
        "POST",
        "/api/v1/drills",
        WRITERS,
        form=NEW_DRILL,
        out_of_scope_body={**NEW_DRILL, "department": "b"},
    ),
    Route("drills_api.drills_coverage", "GET", "/api/v1/drills/coverage", ALL),
    Route("drills_api.drills_get", "GET", DRILL, ALL, obj="drill"),
    Route("drills_api.drills_update", "PATCH", DRILL, WRITERS, obj="drill", form={"version": 1, "title": "Renamed"}),
    Route("drills_api.drills_start", "POST", f"{DRILL}/start", WRITERS, obj="drill"),
    Route(
        "drills_api.drills_record",
        "POST",
        f"{DRILL}/record",
        WRITERS,
        obj="drill_completed",
        form={"strengths": "Calm"},
    ),  # fmt: skip
    Route("drills_api.drills_complete", "POST", f"{DRILL}/complete", WRITERS, obj="drill_running"),
    Route("drills_api.drills_cancel", "POST", f"{DRILL}/cancel", WRITERS, obj="drill", form={"reason": "Storm"}),
    Route("drills_api.drills_approve", "POST", f"{DRILL}/approve", LEADERS, obj="drill_completed"),
    Route(
        "drills_api.drills_timeline_add",
        "POST",
        f"{DRILL}/timeline",
        WRITERS,
        obj="drill_running",
        form={"at": (NOW - timedelta(days=1)).isoformat(), "who": "SOC", "text": "Called the CERT"},
    ),
    Route("drills_api.drills_timeline_remove", "DELETE", DRILL, WRITERS, obj="drill_entry"),
    Route("drills_api.drills_comment", "POST", f"{DRILL}/comments", COMMENTERS, obj="drill", form={"text": "Noted."}),
    Route("drills_api.drills_actions", "GET", f"{DRILL}/actions", ALL, obj="drill_completed"),
    Route(
        "drills_api.drills_actions_create",
        "POST",
        f"{DRILL}/actions",
        WRITERS,
        obj="drill_completed",
        form={"title": "Patch", "owner": "victim.a1", "due_date": DUE},
    ),
    Route("drill_actions_api.actions_list", "GET", "/api/v1/corrective-actions", ALL),
    Route("drill_actions_api.actions_get", "GET", ACTION, ALL, obj="corrective_action"),
    Route(
        "drill_actions_api.actions_update",
        "PATCH",
        ACTION,
        ALL,
        obj="own_action",
        form={"version": 1, "status": "in_progress", "note": "On it"},
    ),
    Route("drill_actions_api.actions_delete", "DELETE", ACTION, WRITERS, obj="corrective_action"),
    Route("drill_actions_api.actions_promote", "POST", f"{ACTION}/promote", PROMOTERS, obj="corrective_action"),
    Route("drill_requests_api.requests_list", "GET", "/api/v1/drill-requests", ALL),
    Route(
        "drill_requests_api.requests_create",
        "POST",
        "/api/v1/drill-requests",
        LEADERS,
        form=NEW_REQUEST,
        out_of_scope_body={**NEW_REQUEST, "department": "b"},
    ),
    Route("drill_requests_api.requests_get", "GET", REQUEST, ALL, obj="drill_request"),
    Route(
        "drill_requests_api.requests_decline",
        "POST",
        f"{REQUEST}/decline",
        WRITERS,
        obj="drill_request",
        form={"reason": "Held last month"},
    ),  # fmt: skip
]
