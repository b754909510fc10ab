"""Role x route rows of scan schedules: read by admins, officers, leaders and auditors in their scope,
made, changed and deleted by admins and officers in their scope."""

from matrix import Route

READERS = frozenset({"admin", "officer", "leader", "auditor"})
WRITERS = frozenset({"admin", "officer"})
NEW = {"name": "nightly", "asset_id": "{asset[in]}", "profile": "discovery", "interval_seconds": 3600}

ROUTES = [
    Route("scan_schedules_api.scan_schedules_list", "GET", "/api/v1/scan-schedules", READERS),
    Route(
        "scan_schedules_api.scan_schedules_create",
        "POST",
        "/api/v1/scan-schedules",
        WRITERS,
        form=NEW,
        out_of_scope_body={**NEW, "asset_id": "{asset[out]}"},
    ),
    Route("scan_schedules_api.scan_schedules_get", "GET", "/api/v1/scan-schedules/{obj}", READERS, obj="scan_schedule"),
    Route(
        "scan_schedules_api.scan_schedules_update",
        "PUT",
        "/api/v1/scan-schedules/{obj}",
        WRITERS,
        obj="scan_schedule",
        form={**NEW, "version": 1},
    ),
    Route(
        "scan_schedules_api.scan_schedules_delete",
        "DELETE",
        "/api/v1/scan-schedules/{obj}",
        WRITERS,
        obj="scan_schedule",
    ),
]
