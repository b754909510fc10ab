"""Role x route rows of the accountability trace's page: every role, in scope. Its object is the
world's very low risk without a due date, which has not gone wrong: the page says so (422);
missing and out of scope, not found (404), the latter audited."""

from matrix import ALL, Route

ROUTES = [
    Route(
        "accountability_trace.index",
        "GET",
        "/accountability/trace?kind=risk_overdue&id={obj}",
        ALL,
        obj="risk",
    ),
]
