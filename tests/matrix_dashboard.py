"""Role x route rows of the dashboard's API (the page is the home page, in tests/test_authz_matrix.py)."""

from matrix import ALL, Route

ROUTES = [Route("api_dashboard.dashboard_get", "GET", "/api/v1/dashboard", ALL)]
