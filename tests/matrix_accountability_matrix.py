"""Role x route rows of the accountability matrix: its page, its API and its export (CSV/XLSX,
through the register exchange), every role, in scope."""

from matrix import ALL, Route

ROUTES = [
    Route("accountability_matrix.index", "GET", "/accountability/matrix", ALL),
    Route("api_accountability_matrix.matrix_get", "GET", "/api/v1/accountability/matrix", ALL),
    Route("registers.export_accountability_matrix", "GET", "/registers/export/accountability_matrix?format=csv", ALL),
    Route(
        "registers_api.accountability_matrix_export",
        "GET",
        "/api/v1/accountability_matrix/export?format=xlsx&state=overdue",
        ALL,
    ),
]
