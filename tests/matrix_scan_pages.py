"""Role x route rows of the scans domain's pages: scans, their raw XML, the findings register with
triage and promotion, scan authorizations, and the asset page's scan forms. The world
(tests/test_authz_matrix.py) gives each side an imported scan with its XML ("scan"), an open finding
("scan_finding") and a pending authorization ("scan_authorization") asked for by officer.a: leaders
decide on it, and an officer may revoke it as its requester."""

from datetime import date, timedelta

from matrix import ALL, ASSET_WRITERS, Route

LEADERS = frozenset({"leader"})
REVOKERS = frozenset({"admin", "officer", "leader"})
TODAY = date.today()
NEW_AUTHORIZATION = {
    "scope": "127.0.0.1",
    "purpose": "Exposure check",
    "zone": "local",
    "valid_from": (TODAY + timedelta(days=1)).isoformat(),
    "valid_until": (TODAY + timedelta(days=5)).isoformat(),
    "max_profile": "quick",
    "fragile_profile": "discovery",
}
SCAN_NOW = {"asset_id": "{asset[in]}", "profile": "discovery"}

ROUTES = [
    Route("scans.index", "GET", "/scans", ALL),
    Route("scans.detail", "GET", "/scans/{obj}", ALL, obj="scan"),
    Route("scans.xml", "GET", "/scans/{obj}/xml", ALL, obj="scan"),
    # The world's assets have no network targets: the request is refused (flashed on the asset
    # page); another department's asset is an unknown one.
    Route(
        "scans.request_scan",
        "POST",
        "/scans/new",
        ASSET_WRITERS,
        form=SCAN_NOW,
        out_of_scope_body={**SCAN_NOW, "asset_id": "{asset[out]}"},
        out_of_scope_status=302,
    ),  # fmt: skip
    Route("scans.policy_edit", "GET", "/scans/assets/{obj}/policy", ASSET_WRITERS, obj="asset"),
    Route(
        "scans.policy_edit",
        "POST",
        "/scans/assets/{obj}/policy",
        ASSET_WRITERS,
        obj="asset",
        form={"zone": "local", "fragile": "true", "windows": "5,6 01:00-05:00"},
    ),  # fmt: skip
    Route("scans.findings_index", "GET", "/scans/findings", ALL),
    Route("scans.finding", "GET", "/scans/findings/{obj}", ALL, obj="scan_finding"),
    Route(
        "scans.triage",
        "POST",
        "/scans/findings/{obj}/triage",
        ASSET_WRITERS,
        obj="scan_finding",
        form={"action": "acknowledge", "version": "1", "note": "Seen"},
    ),  # fmt: skip
    Route(
        "scans.promote",
        "POST",
        "/scans/findings/{obj}/promote",
        ASSET_WRITERS,
        obj="scan_finding",
        form={"treatment": "reduce"},
    ),  # fmt: skip
    Route("scans.authorizations_index", "GET", "/scans/authorizations", ALL),
    Route("scans.authorization_new", "GET", "/scans/authorizations/new", ASSET_WRITERS),
    Route(
        "scans.authorization_new",
        "POST",
        "/scans/authorizations/new",
        ASSET_WRITERS,
        form=NEW_AUTHORIZATION,
        out_of_scope_body={**NEW_AUTHORIZATION, "department": "b"},
    ),  # fmt: skip
    Route("scans.authorization", "GET", "/scans/authorizations/{obj}", ALL, obj="scan_authorization"),
    Route(
        "scans.approve",
        "POST",
        "/scans/authorizations/{obj}/approve",
        LEADERS,
        obj="scan_authorization",
        form={"version": "1"},
    ),  # fmt: skip
    Route(
        "scans.reject",
        "POST",
        "/scans/authorizations/{obj}/reject",
        LEADERS,
        obj="scan_authorization",
        form={"version": "1", "reason": "Not now"},
    ),  # fmt: skip
    Route(
        "scans.revoke",
        "POST",
        "/scans/authorizations/{obj}/revoke",
        REVOKERS,
        obj="scan_authorization",
        form={"version": "1", "reason": "Project ended"},
    ),  # fmt: skip
]
