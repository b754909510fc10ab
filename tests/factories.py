"""Factories shared by the tests: the demo city, and records made directly or through services.

Records made here are committed in a session of their own (the test's session may hold a read
transaction); see the conftest fixtures that wrap them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlmodel import Session, select

from assets import services
from assets.models import Asset, Engagement, Vendor, VendorExemption
from assets.schemas import AssetCreate
from secgov import domains
from secgov.authz import Actor
from secgov.config import ServiceConfig
from secgov.db import write_session
from secgov.demo import load_demo
from secgov.models import Department

SYSTEM = Actor.system("cli")


def config_of(app) -> ServiceConfig:
    """The service configuration of a test app."""
    return ServiceConfig.from_mapping(app.config)


def load_demo_city(app) -> list[tuple[str, str, str, str]]:  # (username, roles, department, password)
    """The demo city, loaded as `python -m secgov demo` does (one transaction); its logins."""
    with app.app_context(), write_session(app.extensions["secgov_engine"]) as session:
        return load_demo(session, config_of(app), domains.registry().demos, domains.registry().measures)


def store(app, row):
    """Commit row in a session of its own and return it."""
    with Session(app.extensions["secgov_engine"], expire_on_commit=False) as own:
        own.add(row)
        own.commit()
    return row


def make_asset(app, code: str, department: str, sector: str = "transport", *, owner: str | None = None, **fields):
    """An asset of a department. Registered through the asset service (owner, first grade, the
    controls of its level, audit entries) when `owner` names its responsible person; without
    one, a bare record (no owner, no controls), for tests that need only the row."""
    with Session(app.extensions["secgov_engine"], expire_on_commit=False) as own:
        if owner is not None:
            data = AssetCreate(
                code=code, name=fields.pop("name", f"System {code}"), sector=sector, department=department, owner=owner,
                **fields,
            )  # fmt: skip
            with app.test_request_context(headers={"Accept-Language": "en"}):
                asset = services.create_asset(own, data, SYSTEM, config_of(app))
            own.commit()
            return asset
        dept_id = own.exec(select(Department.id).where(Department.code == department)).one()
    name = fields.pop("name", f"System {code}")
    return store(app, Asset(code=code, name=name, sector=sector, department_id=dept_id, **fields))


def make_vendor(app, name: str, origin: str = "foreign", country: str = "US", department: str | None = None) -> Vendor:
    """A vendor belonging to `department` (a code; the city's root department by default)."""
    with Session(app.extensions["secgov_engine"]) as own:
        where = Department.code == department if department else Department.parent_id.is_(None)
        dept_id = own.exec(select(Department.id).where(where)).one()
    return store(app, Vendor(name=name, origin=origin, country=country, department_id=dept_id))


LONG_AGO = date(2020, 1, 1)


def engage(app, asset: Asset, vendor: Vendor, role: str = "builder", started_on=LONG_AGO, ended_on=None):
    engagement = Engagement(asset_id=asset.id, vendor_id=vendor.id, role=role, started_on=started_on, ended_on=ended_on)
    return store(app, engagement)


def exempt(app, engagement: Engagement, status: str = "approved", expires_on=None, requested_by: str = "someone"):
    expires_on = expires_on or datetime.now(UTC).date() + timedelta(days=90)
    exemption = VendorExemption(
        engagement_id=engagement.id, reason="interim", expires_on=expires_on, status=status, requested_by=requested_by
    )
    return store(app, exemption)
