"""Role x route rows of accountability (the core's pages and API): the trace of a lapse (object
kind "risk": the world's very low risk without a due date, which in scope has not gone wrong,
422); the terms, the duties, the gaps and one's own duties are read by every role in its scope; assigning is open to the roles that
assign some duty (admin, leader, officer, drill_team), and the service refuses a duty the
caller's roles may not assign (403, audited as responsibility.denied: tests/test_accountability_api.py).
The rows' bodies leave the reason blank, so that every role the route lets in gets the same
answer (422) whatever the duty; an out-of-scope subject is not found for every such role."""

from matrix import ALL, AUTHENTICATED, Route

ASSIGNERS = frozenset({"admin", "leader", "officer", "drill_team"})
ASSIGNMENT = {"duty": "asset.owner", "subject_id": "{asset[in]}", "user": "victim.a1", "reason": ""}
ELSEWHERE = {**ASSIGNMENT, "subject_id": "{asset[out]}", "reason": "Handover"}

ROUTES = [
    Route("accountability.index", "GET", "/accountability", AUTHENTICATED),
    Route(
        "accountability.assign",
        "POST",
        "/accountability/assignments",
        ASSIGNERS,
        form=ASSIGNMENT,
        out_of_scope_body=ELSEWHERE,  # the form again, saying the subject is not found (422)
    ),
    Route("api_accountability.assignments_list", "GET", "/api/v1/accountability/assignments", ALL),
    Route(
        "api_accountability.assignments_create",
        "POST",
        "/api/v1/accountability/assignments",
        ASSIGNERS,
        form=ASSIGNMENT,
        out_of_scope_body=ELSEWHERE,
        out_of_scope_status=404,
    ),
    Route(
        "api_accountability_trace.accountability_trace",
        "GET",
        "/api/v1/accountability/trace?kind=risk_overdue&id={obj}",
        ALL,
        obj="risk",
    ),
    Route("api_accountability.duties_list", "GET", "/api/v1/accountability/duties", ALL),
    Route("api_accountability.gaps_list", "GET", "/api/v1/accountability/gaps", ALL),
    Route("api_accountability.mine_list", "GET", "/api/v1/accountability/mine", AUTHENTICATED),
]
