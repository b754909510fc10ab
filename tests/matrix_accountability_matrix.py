"""Role x route rows of the accountability matrix: its page and its API, every role, in scope."""

from matrix import ALL, Route

ROUTES = [
    Route("accountability_matrix.index", "GET", "/accountability/matrix", ALL),
    Route("api_accountability_matrix.matrix_get", "GET", "/api/v1/accountability/matrix", ALL),
]
