"""Role x route rows of the accountability (core): the trace of a lapse. Object kind "risk" (the
world's very low risk without a due date: in scope it has not gone wrong, 422)."""

from matrix import ALL, Route

ROUTES = [
    Route(
        "api_accountability_trace.accountability_trace",
        "GET",
        "/api/v1/accountability/trace?kind=risk_overdue&id={obj}",
        ALL,
        obj="risk",
    ),
]
