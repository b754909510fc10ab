"""Role x route rows of the appraisal: its page, its records, its API and its exports are read
by every role (officers, leaders, auditors and administrators see their scope; anyone else their
own line); closing a period is the city's leadership's (a bureau's leader is refused, audited as
appraisal.denied) and changes the database for the city's leader."""

from matrix import ALL, AUTHENTICATED, Route

CLOSERS = frozenset({"leader"})
READERS = frozenset({"admin", "leader", "officer", "auditor"})

ROUTES = [
    Route("accountability.appraisal_page", "GET", "/accountability/appraisal?period=2026-Q3", AUTHENTICATED),
    Route(
        "accountability.appraisal_records",
        "GET",
        "/accountability/appraisal/records?period=2026&good=false",
        AUTHENTICATED,
    ),
    Route(
        "accountability.appraisal_close",
        "POST",
        "/accountability/appraisal/close",
        CLOSERS,
        form={"period": "2025-Q4"},
        no_scope=True,
        city_only="appraisal.denied",
    ),
    Route("api_appraisal.appraisal_get", "GET", "/api/v1/appraisal?period=2026-H2", ALL),
    Route("api_appraisal.appraisal_records", "GET", "/api/v1/appraisal/records?measure=x&page_size=5", ALL),
    Route("api_appraisal.appraisal_periods", "GET", "/api/v1/appraisal/periods", ALL),
    Route(
        "api_appraisal.appraisal_close",
        "POST",
        "/api/v1/appraisal/close",
        CLOSERS,
        form={"period": "2025-Q4"},
        no_scope=True,
        city_only="appraisal.denied",
    ),
    Route("registers.export_appraisal", "GET", "/registers/export/appraisal?format=csv&period=2026", READERS),
    Route(
        "registers.export_appraisal_records",
        "GET",
        "/registers/export/appraisal_records?format=xlsx&good=false",
        READERS,
    ),
    Route("registers_api.appraisal_export", "GET", "/api/v1/appraisal/export?format=csv&period=2026-Q3", READERS),
    Route("registers_api.appraisal_records_export", "GET", "/api/v1/appraisal_records/export?format=xlsx", READERS),
]
