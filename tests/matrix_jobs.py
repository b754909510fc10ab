"""Role x route rows of background work: runs (read in scope, started by admins) and schedules
(city-wide: read by admins and auditors, changed by the root department's admins only)."""

from matrix import ADMIN, AUDIT_READERS, Route

RUN_READERS = frozenset({"admin", "officer", "auditor"})

START = {"kind": "system.check", "param.hold_seconds": "0"}
SCHEDULE_FORM = {"kind": "system.check", "when": "interval", "interval_seconds": "600", "enabled": "on"}
SCHEDULE_JSON = {"kind": "system.check", "interval_seconds": 600, "params": {"hold_seconds": 0}}

ROUTES = [
    Route("jobs.index", "GET", "/jobs", RUN_READERS),
    Route("jobs.detail", "GET", "/jobs/{obj}", RUN_READERS, obj="run"),
    Route("jobs.start", "POST", "/jobs/start", ADMIN, form=START),
    Route("jobs.schedules_page", "GET", "/jobs/schedules", AUDIT_READERS),
    Route("jobs.schedules_create", "POST", "/jobs/schedules", ADMIN, form=SCHEDULE_FORM, city_only="schedule.denied"),
    Route(
        "jobs.schedules_update",
        "POST",
        "/jobs/schedules/{obj}",
        ADMIN,
        obj="schedule",
        no_scope=True,
        form={**SCHEDULE_FORM, "version": "1"},
        city_only="schedule.denied",
    ),
    Route(
        "jobs.schedules_delete",
        "POST",
        "/jobs/schedules/{obj}/delete",
        ADMIN,
        obj="schedule",
        no_scope=True,
        city_only="schedule.denied",
    ),
    Route("api_jobs.jobs_list", "GET", "/api/v1/jobs", RUN_READERS),
    Route("api_jobs.jobs_start", "POST", "/api/v1/jobs", ADMIN, form={"kind": "system.check", "params": {}}),
    Route("api_jobs.jobs_get", "GET", "/api/v1/jobs/{obj}", RUN_READERS, obj="run"),
    Route("api_jobs.schedules_list", "GET", "/api/v1/schedules", AUDIT_READERS),
    Route(
        "api_jobs.schedules_create", "POST", "/api/v1/schedules", ADMIN, form=SCHEDULE_JSON, city_only="schedule.denied"
    ),
    Route("api_jobs.schedules_get", "GET", "/api/v1/schedules/{obj}", AUDIT_READERS, obj="schedule", no_scope=True),
    Route(
        "api_jobs.schedules_update",
        "PATCH",
        "/api/v1/schedules/{obj}",
        ADMIN,
        obj="schedule",
        no_scope=True,
        form={**SCHEDULE_JSON, "version": 1},
        city_only="schedule.denied",
    ),
    Route(
        "api_jobs.schedules_delete",
        "DELETE",
        "/api/v1/schedules/{obj}",
        ADMIN,
        obj="schedule",
        no_scope=True,
        city_only="schedule.denied",
    ),
]
