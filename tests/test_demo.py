"""The demo city: realistic, idempotent, and every demo target on loopback."""

from __future__ import annotations

import ipaddress

from factories import config_of, load_demo_city
from sqlmodel import func, select

from assets import services
from assets.models import Asset, AssetControl
from secgov import audit


def test_demo_city_is_rich_idempotent_and_on_loopback(app, session):
    load_demo_city(app)
    load_demo_city(app)
    assets = session.exec(select(Asset)).all()
    assert 55 <= len(assets) <= 70
    assert len({a.code for a in assets}) == len(assets)
    loopback = ipaddress.ip_network("127.0.0.0/8")
    for asset in assets:
        for target in asset.network_targets:
            assert ipaddress.ip_network(target, strict=False).subnet_of(loopback), (asset.code, target)
    assert {a.sector for a in assets} >= {
        "government",
        "transport",
        "utilities",
        "healthcare",
        "public_safety",
        "energy",
        "finance",
    }
    assert any(a.is_cii for a in assets) and any(a.classified for a in assets)
    assert any(services.filing_missing(a) for a in assets)
    assert any(a.mlps_level is None for a in assets)
    statuses = dict(session.exec(select(AssetControl.status, func.count()).group_by(AssetControl.status)).all())
    assert set(statuses) == {"implemented", "partial", "planned", "not_implemented", "not_applicable"}
    assert audit.verify(session).ok


def test_demo_vendors_give_violations_warnings_and_one_approved_exemption(app, session):
    from assets import policy
    from assets.models import Vendor
    from secgov import auth
    from secgov.authz import Actor

    load_demo_city(app)
    load_demo_city(app)
    origins = {v.origin for v in session.exec(select(Vendor)).all()}
    assert origins == {"domestic", "foreign", "joint_venture"}
    assert 18 <= len(session.exec(select(Vendor)).all()) <= 25
    with app.test_request_context():
        report = policy.compliance(session, Actor.of(auth.find_user(session, "officer")), config_of(app))
    assert {f.asset_code for f in report.violations} == {"MTR-CBTC-01", "PSB-VID-01"}
    assert {f.asset_code for f in report.warnings} == {"TRF-SIG-02", "MTR-AFC-01", "ENG-EMS-01", "EGV-DATA-01"}
    assert {f.asset_code for f in report.exempted} == {"WTR-LEAK-01"}
    assert len(report.pending_exemptions) == 1
