"""Role x route rows of the scans domain (API): authorizations, scans and their imports, findings,
the assets' scan policies. Object kinds: "scan_authorization" (pending, asked for by officer.a),
"scan" (an imported scan with its XML), "scan_finding" (an open finding of that scan)."""

from datetime import UTC, datetime, timedelta

from matrix import ASSET_WRITERS, Route

READERS = frozenset({"admin", "officer", "leader", "auditor"})
XML_READERS = frozenset({"admin", "officer", "auditor"})
LEADERS = frozenset({"leader"})
REVOKING = frozenset({"admin", "officer", "leader"})

NOW = datetime.now(UTC)
NEW_AUTHORIZATION = {
    "scope": ["127.0.0.1"],
    "purpose": "Check the exposed services.",
    "valid_from": NOW.isoformat(),
    "valid_until": (NOW + timedelta(days=30)).isoformat(),
    "department": "a1",
}
# The world's assets have no network targets: a scan asked for is refused (422) before anything is queued.
NEW_SCAN = {"asset_id": "{asset[in]}", "profile": "discovery"}
XML = (
    b'<?xml version="1.0"?><nmaprun scanner="nmap" args="nmap -sT 127.0.0.1" start="1796595523" version="7.93">'
    b'<host><status state="up"/><address addr="127.0.0.1" addrtype="ipv4"/><ports>'
    b'<port protocol="tcp" portid="23"><state state="open"/><service name="telnet"/></port></ports></host>'
    b'<runstats><finished time="1796595524" elapsed="0.5" exit="success"/><hosts up="1" down="0" total="1"/>'
    b"</runstats></nmaprun>"
)
AUTHZ = "/api/v1/scan-authorizations/{obj}"

ROUTES = [
    Route("scan_authorizations_api.authorizations_list", "GET", "/api/v1/scan-authorizations", READERS),
    Route(
        "scan_authorizations_api.authorizations_create",
        "POST",
        "/api/v1/scan-authorizations",
        ASSET_WRITERS,
        form=NEW_AUTHORIZATION,
        out_of_scope_body={**NEW_AUTHORIZATION, "department": "b"},
        out_of_scope_status=404,
    ),
    Route("scan_authorizations_api.authorizations_get", "GET", AUTHZ, READERS, obj="scan_authorization"),
    Route(
        "scan_authorizations_api.authorizations_approve",
        "POST",
        f"{AUTHZ}/approve",
        LEADERS,
        obj="scan_authorization",
        form={"version": 1},
    ),
    Route(
        "scan_authorizations_api.authorizations_reject",
        "POST",
        f"{AUTHZ}/reject",
        LEADERS,
        obj="scan_authorization",
        form={"version": 1, "reason": "Too wide."},
    ),
    Route(
        "scan_authorizations_api.authorizations_revoke",
        "POST",
        f"{AUTHZ}/revoke",
        REVOKING,
        obj="scan_authorization",
        form={"version": 1, "reason": "Not needed any more."},
    ),
    Route("scans_api.scans_list", "GET", "/api/v1/scans", READERS),
    Route(
        "scans_api.scans_create",
        "POST",
        "/api/v1/scans",
        ASSET_WRITERS,
        form=NEW_SCAN,
        out_of_scope_body={**NEW_SCAN, "asset_id": "{asset[out]}"},
    ),
    Route(
        "scans_api.scans_import",
        "POST",
        "/api/v1/scans/import",
        ASSET_WRITERS,
        form={"asset_id": "{asset[in]}"},
        files={"file": ("scan.xml", XML)},
        out_of_scope_body={"asset_id": "{asset[out]}"},
    ),
    Route("scans_api.scans_get", "GET", "/api/v1/scans/{obj}", READERS, obj="scan"),
    Route("scans_api.scans_xml", "GET", "/api/v1/scans/{obj}/xml", XML_READERS, obj="scan"),
    Route("scans_api.scan_policy_get", "GET", "/api/v1/assets/{obj}/scan-policy", READERS, obj="asset"),
    Route(
        "scans_api.scan_policy_put",
        "PUT",
        "/api/v1/assets/{obj}/scan-policy",
        ASSET_WRITERS,
        obj="asset",
        form={"fragile": True},
    ),
    Route("scan_findings_api.findings_list", "GET", "/api/v1/findings", READERS),
    Route("scan_findings_api.findings_get", "GET", "/api/v1/findings/{obj}", READERS, obj="scan_finding"),
    Route(
        "scan_findings_api.findings_triage",
        "POST",
        "/api/v1/findings/{obj}/triage",
        ASSET_WRITERS,
        obj="scan_finding",
        form={"action": "acknowledge", "version": 1},
    ),
    Route(
        "scan_findings_api.findings_promote",
        "POST",
        "/api/v1/findings/{obj}/promote",
        ASSET_WRITERS,
        obj="scan_finding",
    ),
]
