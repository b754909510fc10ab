"""A version (optimistic concurrency) is a whole number the client read back: JSON true, false
and floats are refused with 422 naming the field and the record is unchanged, on every update of
the API; the forms' digits still save (`secgov.directory.Version`, the one type of them all)."""

from __future__ import annotations

import pytest
from helpers import csrf_token, login
from sqlmodel import select

from assets.models import Asset, AssetControl, Vendor
from secgov.models import Department, User

EN = {"Accept-Language": "en"}


@pytest.fixture
def records(city, make_asset, make_vendor, session):
    """kind -> (API path, a change): an asset with its controls, a vendor, a department, a user."""
    asset = make_asset("V-1", "a", owner="officer.a", mlps_level=2)
    vendor = make_vendor("Vendor One")
    session.rollback()
    control = session.exec(
        select(AssetControl.control_id).where(AssetControl.asset_id == asset.id).order_by(AssetControl.control_id)
    ).first()
    return {
        "asset": (f"/api/v1/assets/{asset.id}", {"name": "Changed"}),
        "control": (f"/api/v1/assets/{asset.id}/controls/{control}", {"status": "planned"}),
        "vendor": (f"/api/v1/vendors/{vendor.id}", {"name": "Changed"}),
        "department": ("/api/v1/departments/a1", {"name": "Changed"}),
        "user": ("/api/v1/users/officer.b", {"display_name": "Changed"}),
        "ids": {"asset": asset.id, "control": control, "vendor": vendor.id},
    }


@pytest.fixture
def admin_api(client, city, api_token):
    token = api_token(city["admin"])

    def call(method: str, path: str, **kwargs):
        return client.open(path, method=method, headers={"Authorization": f"Bearer {token}", **EN}, **kwargs)

    return call


def state(session) -> tuple:
    """What an update could change, with the versions, of every kind of record."""
    session.rollback()
    return tuple(
        sorted(session.exec(select(*columns)).all())
        for columns in (
            (Asset.code, Asset.name, Asset.version),
            (AssetControl.id, AssetControl.status, AssetControl.version),
            (Vendor.name, Vendor.version),
            (Department.code, Department.name, Department.version),
            (User.username, User.display_name, User.version),
        )
    )


KINDS = ("asset", "control", "vendor", "department", "user")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("version", [True, False, 1.0, 1.5, "1.0", "true", None, [1]])
def test_a_version_that_is_not_a_whole_number_is_refused(admin_api, records, session, kind, version):
    path, change = records[kind]
    before = state(session)
    response = admin_api("PATCH", path, json={**change, "version": version})
    assert response.status_code == 422, response.json
    error = response.json["error"]
    assert error["code"] == "invalid"
    assert {"field": "version", "message": "Must be a whole number."} in error["details"]
    assert state(session) == before


@pytest.mark.parametrize("kind", KINDS)
def test_the_version_read_still_saves(admin_api, records, session, kind):
    path, change = records[kind]
    response = admin_api("PATCH", path, json={**change, "version": 1})
    assert response.status_code == 200, response.json
    assert response.json["version"] == 2
    # And a stale one is still a conflict, not a validation error.
    assert admin_api("PATCH", path, json={**change, "version": 1}).status_code == 409


def test_the_forms_digits_still_save(client, city, make_user, records, session):
    admin = make_user("web.admin", roles=("admin",), mfa=True)
    assert login(client, admin).status_code == 302
    ids = records["ids"]
    token = csrf_token(client, "/admin/departments/a1/edit")
    control = ids["control"]
    # (path, form, the name of its version field); a refused form is shown again (422)
    forms = [
        ("/admin/departments/a1/edit", {"name": "A1 renamed", "kind": "unit", "parent": "a"}, "version"),
        ("/admin/users/officer.b", {"display_name": "B", "department": "b", "roles": ["officer"]}, "version"),
        (f"/vendors/{ids['vendor']}/edit", {"name": "Vendor Renamed", "origin": "foreign", "country": "US"}, "version"),
        (
            f"/assets/{ids['asset']}/controls",
            {f"status:{control}": "implemented", f"evidence:{control}": "seen"},
            f"version:{control}",
        ),
    ]
    for path, form, version in forms:
        before = state(session)
        refused = client.post(path, data={**form, version: "true", "csrf_token": token})
        assert refused.status_code == 422, path
        assert state(session) == before
        saved = client.post(path, data={**form, version: " 1 ", "csrf_token": token})
        assert saved.status_code == 302, path
    session.rollback()
    assert session.exec(select(Department.name).where(Department.code == "a1")).one() == "A1 renamed"
    assert session.exec(select(User.display_name).where(User.username == "officer.b")).one() == "B"
    assert session.exec(select(Vendor.name)).one() == "Vendor Renamed"
    assert session.exec(select(AssetControl.status).where(AssetControl.control_id == ids["control"])).one() == (
        "implemented"
    )
