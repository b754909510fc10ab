"""Role x route rows of the headline figures' snapshots (core API)."""

from matrix import ALL, Route

ROUTES = [
    # Everyone reads the figures of a department in scope; another bureau's is missing (404).
    Route("api_snapshots.snapshots_list", "GET", "/api/v1/snapshots?department={obj}", ALL, obj="dept"),
]
