"""Role x route rows of the asset register (pages and API)."""

from matrix import ALL, ASSET_WRITERS, Route

NEW_ASSET = {
    "code": "NEW-1",
    "name": "New system",
    "sector": "transport",
    "department": "a1",
    "owner": "victim.a1",
    "mlps_level": 2,
    "mlps_filing_number": "F-2",
    "network_targets": ["127.0.0.9"],
    "expected_ports": ["443/tcp"],
}
NEW_ASSET_FORM = {**NEW_ASSET, "mlps_level": "2", "network_targets": "127.0.0.9", "expected_ports": "443/tcp"}
CONTROL = "mlps.general.PE.02"

ROUTES = [
    Route("assets.index", "GET", "/assets", ALL),
    Route("assets.coverage", "GET", "/assets/coverage", ALL),
    Route("assets_api.assets_coverage", "GET", "/api/v1/assets/coverage", ALL),
    Route("assets.create", "GET", "/assets/new", ASSET_WRITERS),
    Route(
        "assets.create",
        "POST",
        "/assets/new",
        ASSET_WRITERS,
        form=NEW_ASSET_FORM,
        out_of_scope_body={**NEW_ASSET_FORM, "department": "b"},
    ),
    Route("assets.detail", "GET", "/assets/{obj}", ALL, obj="asset"),
    Route("assets.edit", "GET", "/assets/{obj}/edit", ASSET_WRITERS, obj="asset"),
    Route(
        "assets.edit",
        "POST",
        "/assets/{obj}/edit",
        ASSET_WRITERS,
        obj="asset",
        form={
            "name": "Renamed",
            "sector": "transport",
            "department": "a1",
            "owner": "victim.a1",
            "mlps_level": "3",
            "version": "1",
        },
    ),
    Route("assets.delete", "POST", "/assets/{obj}/delete", ASSET_WRITERS, obj="asset"),
    Route(
        "assets.controls_update",
        "POST",
        "/assets/{obj}/controls",
        ASSET_WRITERS,
        obj="asset",
        form={f"status:{CONTROL}": "implemented", f"evidence:{CONTROL}": "doc", f"version:{CONTROL}": "1"},
    ),
    Route("assets_api.assets_list", "GET", "/api/v1/assets", ALL),
    Route(
        "assets_api.assets_create",
        "POST",
        "/api/v1/assets",
        ASSET_WRITERS,
        form=NEW_ASSET,
        out_of_scope_body={**NEW_ASSET, "department": "b"},
    ),
    Route("assets_api.assets_get", "GET", "/api/v1/assets/{obj}", ALL, obj="asset"),
    Route(
        "assets_api.assets_update",
        "PATCH",
        "/api/v1/assets/{obj}",
        ASSET_WRITERS,
        obj="asset",
        form={"mlps_level": 3, "version": 1},
    ),
    Route("assets_api.assets_delete", "DELETE", "/api/v1/assets/{obj}", ASSET_WRITERS, obj="asset"),
    Route("assets_api.controls_list", "GET", "/api/v1/assets/{obj}/controls", ALL, obj="asset"),
    Route("assets_api.controls_get", "GET", f"/api/v1/assets/{{obj}}/controls/{CONTROL}", ALL, obj="asset"),
    Route(
        "assets_api.controls_update_many",
        "PATCH",
        "/api/v1/assets/{obj}/controls",
        ASSET_WRITERS,
        obj="asset",
        form={"items": [{"control_id": CONTROL, "status": "planned", "evidence": "plan 2027", "version": 1}]},
    ),
    Route(
        "assets_api.controls_update",
        "PATCH",
        f"/api/v1/assets/{{obj}}/controls/{CONTROL}",
        ASSET_WRITERS,
        obj="asset",
        form={"status": "partial", "evidence": "https://intranet.example/doc", "version": 1},
    ),
]
