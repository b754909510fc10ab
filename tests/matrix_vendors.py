"""Role x route rows of vendors, engagements, exemptions and vendor-origin compliance (pages and API).

The world has a foreign vendor of bureau a and, in scope and out of it, an asset (transport,
level 2, not classified) with that vendor as builder (a warning) and a pending exemption requested
by "test"; and a vendor of bureau b (the "out" vendor), which bureau a reads but cannot change.
"""

from datetime import UTC, datetime, timedelta

from matrix import ALL, APPROVERS, ASSET_WRITERS, Route

NEW_VENDOR = {"name": "Harbour Systems", "origin": "domestic", "country": "cn", "confidentiality_agreement_on": ""}
NEW_VENDOR_API = {**NEW_VENDOR, "confidentiality_agreement_on": "2024-03-01"}
NEW_ENGAGEMENT = {"vendor_id": "{vendor[in]}", "role": "advisor", "started_on": "2024-01-01"}
# Read at import: far enough ahead (and the end day in the past or today) for a run across midnight.
EXPIRES = (datetime.now(UTC).date() + timedelta(days=120)).isoformat()
NEW_EXEMPTION = {
    "engagement_id": "{engagement_id[in]}",
    "reason": "Migration to a domestic builder",
    "expires_on": EXPIRES,
}
OUT_EXEMPTION = {**NEW_EXEMPTION, "engagement_id": "{engagement_id[out]}"}
# Another department's vendor: read by everyone, changed only by its department and the city.
READ = {"out_status": 200, "out_audit": None}
DENIED = {"out_status": 403, "out_audit": "vendor.denied"}

ROUTES = [
    # pages
    Route("vendors.index", "GET", "/vendors", ALL),
    Route("vendors.create", "GET", "/vendors/new", ASSET_WRITERS),
    Route("vendors.create", "POST", "/vendors/new", ASSET_WRITERS, form=NEW_VENDOR),
    Route("vendors.detail", "GET", "/vendors/{obj}", ALL, obj="vendor", **READ),
    # The edit form of a vendor one may not change leads back to the vendor's page, saying why.
    Route("vendors.edit", "GET", "/vendors/{obj}/edit", ASSET_WRITERS, obj="vendor", out_status=302, out_audit=None),
    Route(
        "vendors.edit",
        "POST",
        "/vendors/{obj}/edit",
        ASSET_WRITERS,
        obj="vendor",
        form={"name": "Overseas Systems Group", "origin": "foreign", "country": "US", "version": "1"},
        **DENIED,
    ),
    # Refused, the page goes back to the vendor with the reason (and the refusal is audited).
    Route(
        "vendors.delete",
        "POST",
        "/vendors/{obj}/delete",
        ASSET_WRITERS,
        obj="vendor",
        out_status=302,
        out_audit="vendor.denied",
    ),
    Route(
        "vendors.engagement_create",
        "POST",
        "/assets/{obj}/engagements",
        ASSET_WRITERS,
        obj="asset",
        form=NEW_ENGAGEMENT,
    ),
    Route("vendors.engagement_end", "POST", "/assets/{obj}/end", ASSET_WRITERS, obj="engagement_page"),
    Route("vendors.engagement_delete", "POST", "/assets/{obj}/delete", ASSET_WRITERS, obj="engagement_page"),
    Route("policy.compliance", "GET", "/compliance/vendor-origin", ALL),
    Route("policy.exemptions", "GET", "/vendor-exemptions", ALL),
    Route(
        "policy.exemption_create",
        "POST",
        "/vendor-exemptions/new",
        ASSET_WRITERS,
        form=NEW_EXEMPTION,
        out_of_scope_body=OUT_EXEMPTION,
    ),
    Route(
        "policy.exemption_approve",
        "POST",
        "/vendor-exemptions/{obj}/approve",
        APPROVERS,
        obj="exemption",
        form={"note": "Until the migration ends"},
    ),
    Route(
        "policy.exemption_reject",
        "POST",
        "/vendor-exemptions/{obj}/reject",
        APPROVERS,
        obj="exemption",
        form={"note": "No migration plan"},
    ),
    # API
    Route("vendors_api.vendors_list", "GET", "/api/v1/vendors", ALL),
    Route("vendors_api.vendors_create", "POST", "/api/v1/vendors", ASSET_WRITERS, form=NEW_VENDOR_API),
    Route("vendors_api.vendors_get", "GET", "/api/v1/vendors/{obj}", ALL, obj="vendor", **READ),
    Route(
        "vendors_api.vendors_update",
        "PATCH",
        "/api/v1/vendors/{obj}",
        ASSET_WRITERS,
        obj="vendor",
        form={"name": "Overseas Systems Group", "version": 1},
        **DENIED,
    ),
    # The world's vendor is engaged: deleting it is refused (409), and that is the point.
    Route("vendors_api.vendors_delete", "DELETE", "/api/v1/vendors/{obj}", ASSET_WRITERS, obj="vendor", **DENIED),
    Route("vendors_api.engagements_list", "GET", "/api/v1/assets/{obj}/vendors", ALL, obj="asset"),
    Route(
        "vendors_api.engagements_create",
        "POST",
        "/api/v1/assets/{obj}/vendors",
        ASSET_WRITERS,
        obj="asset",
        form=NEW_ENGAGEMENT,
    ),
    Route(
        "vendors_api.engagements_update",
        "PATCH",
        "/api/v1/assets/{obj}",
        ASSET_WRITERS,
        obj="engagement",
        form={"ended_on": datetime.now(UTC).date().isoformat(), "note": "Handed over"},
    ),
    Route("vendors_api.engagements_delete", "DELETE", "/api/v1/assets/{obj}", ASSET_WRITERS, obj="engagement"),
    Route("policy_api.compliance", "GET", "/api/v1/compliance/vendor-origin", ALL),
    Route("policy_api.exemptions_list", "GET", "/api/v1/vendor-exemptions", ALL),
    Route(
        "policy_api.exemptions_create",
        "POST",
        "/api/v1/vendor-exemptions",
        ASSET_WRITERS,
        form=NEW_EXEMPTION,
        out_of_scope_body=OUT_EXEMPTION,
    ),
    Route(
        "policy_api.exemptions_approve",
        "POST",
        "/api/v1/vendor-exemptions/{obj}/approve",
        APPROVERS,
        obj="exemption",
        form={"note": "Until the migration ends"},
    ),
    Route(
        "policy_api.exemptions_reject",
        "POST",
        "/api/v1/vendor-exemptions/{obj}/reject",
        APPROVERS,
        obj="exemption",
        form={"note": "No migration plan"},
    ),
]
