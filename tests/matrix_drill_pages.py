"""Role x route rows of the drills domain's pages: the list, one drill with its workflow, timeline,
record, comments and improvement plan, the plan form, corrective actions (open to every signed-in
user: the service decides, and tells a non-owner on the action's page), coverage and leaders'
requests. The world (tests/test_authz_matrix.py) gives each side a planned drill ("drill"), a
completed one with an objective and a draft after-action report ("drill_completed"), a corrective
action of it owned by the side's victim ("corrective_action") and an open request ("drill_request")."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from matrix import ALL, AUTHENTICATED, Route

WRITERS = frozenset({"admin", "drill_team"})
COMMENTERS = frozenset({"admin", "officer", "drill_team"})
LEADERS = frozenset({"leader"})
PROMOTERS = frozenset({"admin", "drill_team", "officer"})
_LOCAL = ZoneInfo("Asia/Shanghai")  # the test app's zone (SECGOV_TIMEZONE's default)
NOW = datetime.now(UTC)
FUTURE = (NOW + timedelta(days=14)).astimezone(_LOCAL).strftime("%Y-%m-%dT%H:%M")
# The world's completed drill ran three days ago for an hour.
DURING = (NOW - timedelta(days=3) + timedelta(minutes=30)).astimezone(_LOCAL).strftime("%Y-%m-%dT%H:%M")
DUE = (NOW + timedelta(days=20)).date().isoformat()
NEW_DRILL = {
    "title": "Water SCADA full-scale",
    "exercise_type": "tabletop",
    "incident_grade": "II",
    "lead": "victim.a1",
    "planned_start": FUTURE,
    "duration_minutes": "90",
    "assets": "A-IN",
    "objectives": "Detect\nReport",
}
EDIT_DRILL = {**NEW_DRILL, "version": "1", "title": "Renamed drill"}
NEW_REQUEST = {"title": "Drill the portal", "due_by": DUE, "reason": "Audit finding"}

ROUTES = [
    Route("drills.index", "GET", "/drills", ALL),
    Route("drills.detail", "GET", "/drills/{obj}", ALL, obj="drill"),
    Route("drills.new", "GET", "/drills/new", WRITERS),
    Route(
        "drills.new",
        "POST",
        "/drills/new",
        WRITERS,
        form=NEW_DRILL,
        out_of_scope_body={**NEW_DRILL, "department": "b"},
    ),  # fmt: skip
    Route("drills.edit", "GET", "/drills/{obj}/edit", WRITERS, obj="drill"),
    Route("drills.edit", "POST", "/drills/{obj}/edit", WRITERS, obj="drill", form=EDIT_DRILL),
    Route("drills.start", "POST", "/drills/{obj}/start", WRITERS, obj="drill", form={"version": "1"}),
    # The world has no drill in progress: completing a planned one is refused (422) with the reason.
    Route("drills.complete", "POST", "/drills/{obj}/complete", WRITERS, obj="drill", form={}),
    Route("drills.cancel", "POST", "/drills/{obj}/cancel", WRITERS, obj="drill", form={"reason": "A storm"}),
    Route("drills.approve", "POST", "/drills/{obj}/approve", LEADERS, obj="drill_completed", form={"version": "1"}),
    Route(
        "drills.entry_add",
        "POST",
        "/drills/{obj}/timeline",
        WRITERS,
        obj="drill_completed",
        form={"at": DURING, "who": "SOC", "text": "Alert seen", "milestone": "detected"},
    ),  # fmt: skip
    # No such entry: the page says so (302 back to the drill).
    Route("drills.entry_remove", "POST", "/drills/{obj}/timeline/999999/remove", WRITERS, obj="drill_completed"),
    Route(
        "drills.record",
        "POST",
        "/drills/{obj}/record",
        WRITERS,
        obj="drill_completed",
        form={"strengths": "Quick detection", "improvements": "Slow escalation"},
    ),  # fmt: skip
    Route("drills.comment", "POST", "/drills/{obj}/comments", COMMENTERS, obj="drill", form={"text": "Noted"}),
    Route(
        "drills.action_add",
        "POST",
        "/drills/{obj}/actions",
        WRITERS,
        obj="drill_completed",
        form={"title": "Patch the gateway", "owner": "victim.a1", "due_date": DUE},
    ),  # fmt: skip
    Route("drills.actions", "GET", "/drills/actions", AUTHENTICATED),
    Route("drills.action", "GET", "/drills/actions/{obj}", AUTHENTICATED, obj="corrective_action"),
    # Every signed-in user may try; the service lets the owner and the drill team (others are told
    # so on the action's page: 302).
    Route(
        "drills.action_update",
        "POST",
        "/drills/actions/{obj}/update",
        AUTHENTICATED,
        obj="corrective_action",
        form={"version": "1", "status": "in_progress", "note": "Started"},
    ),  # fmt: skip
    Route(
        "drills.action_edit",
        "POST",
        "/drills/actions/{obj}/edit",
        WRITERS,
        obj="corrective_action",
        form={"version": "1", "title": "Fix the gateway"},
    ),  # fmt: skip
    Route(
        "drills.action_promote",
        "POST",
        "/drills/actions/{obj}/promote",
        PROMOTERS,
        obj="corrective_action",
        form={"treatment": "reduce"},
    ),  # fmt: skip
    Route("drills.coverage", "GET", "/drills/coverage", ALL),
    Route("drills.requests", "GET", "/drills/requests", ALL),
    Route(
        "drills.request_ask",
        "POST",
        "/drills/requests",
        LEADERS,
        form=NEW_REQUEST,
        out_of_scope_body={**NEW_REQUEST, "department": "b"},
    ),  # fmt: skip
    Route(
        "drills.request_decline",
        "POST",
        "/drills/requests/{obj}/decline",
        WRITERS,
        obj="drill_request",
        form={"reason": "Covered by the spring drill"},
    ),  # fmt: skip
]
