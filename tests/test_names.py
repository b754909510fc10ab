"""People read names, not codes: departments by their name in the reader's language, people by
their display name, and the reasons the application writes into histories translated."""

from __future__ import annotations

import re

import pytest
from factories import load_demo_city
from helpers import login
from sqlmodel import select

from assets.models import Asset, AssetGrade
from secgov.models import User

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}


@pytest.fixture
def demo(app, session):
    """The demo city, and a web client of the transport officer (no TOTP needed)."""
    passwords = {username: password for username, _roles, _dept, password in load_demo_city(app)}
    officer = session.exec(select(User).where(User.username == "officer.transport")).one()
    client = app.test_client()
    assert login(client, officer, passwords["officer.transport"]).status_code == 302
    return client


def text_of(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


def test_english_pages_name_departments_in_english(demo, session):
    assets = text_of(demo.get("/assets", headers=EN).get_data(as_text=True))
    assert "Traffic Signal Control Centre" in assets and "交通信号控制中心" not in assets
    chinese = text_of(demo.get("/assets", headers=ZH).get_data(as_text=True))
    assert "交通信号控制中心" in chinese and "Traffic Signal Control Centre" not in chinese
    vendors = text_of(demo.get("/vendors", headers=EN).get_data(as_text=True))
    assert "Water Authority" in vendors and "市水务局" not in vendors
    compliance = text_of(demo.get("/compliance/vendor-origin", headers=EN).get_data(as_text=True))
    # Each finding names its department (the counts per department add the code beside it).
    findings = compliance[compliance.index("Violation ") : compliance.index("By department")]
    assert "Metro Operations Centre" in findings and "transport-metro" not in findings


def test_people_are_named_by_their_display_name(demo, session):
    asset = session.exec(select(Asset).where(Asset.code == "TRF-SIG-01")).one()
    page = text_of(demo.get(f"/assets/{asset.id}", headers=EN).get_data(as_text=True))
    assert "李通 Li Tong (transport security officer)" in page  # the owner, not "officer.transport"
    listing = text_of(demo.get("/assets?q=TRF-SIG-01", headers=EN).get_data(as_text=True))
    assert "Li Tong" in listing


def test_the_applications_own_reasons_are_translated(demo, session):
    asset = session.exec(select(Asset).where(Asset.code == "TRF-SIG-01")).one()
    grade = session.exec(select(AssetGrade).where(AssetGrade.asset_id == asset.id)).first()
    assert grade.reason == "registered"  # stored as a code, whatever the registrar's language
    english = demo.get(f"/assets/{asset.id}", headers=EN).get_data(as_text=True)
    chinese = demo.get(f"/assets/{asset.id}", headers=ZH).get_data(as_text=True)
    assert "<td>Registered</td>" in english and "registered" not in text_of(english)
    assert "<td>登记</td>" in chinese


def test_the_vendor_list_says_what_it_searches_and_exports(demo):
    english = demo.get("/vendors", headers=EN).get_data(as_text=True)
    assert 'placeholder="Search by vendor name"' in english  # not the users' "user name or name"
    assert "Export the 20 vendors found (every page):" in english
    chinese = demo.get("/vendors", headers=ZH).get_data(as_text=True)
    assert 'placeholder="按厂商名称搜索"' in chinese and "导出找到的 20 家厂商" in chinese
    assert 'href="/vendor-exemptions"' in english  # exemptions have their place in the menu
