"""City-wide settings: only the root department's administrators change them (page and API), the
API reads and writes them as code (all or nothing, audited with before and after), and the
allowed scan networks can only narrow SECGOV_SCAN_ALLOWED_NETWORKS."""

from __future__ import annotations

import ipaddress
import json

import pytest
from factories import config_of
from helpers import csrf_token, login
from sqlmodel import Session, select

from secgov import settings
from secgov.app import create_app
from secgov.authz import Actor
from secgov.config import ServiceConfig
from secgov.errors import Invalid
from secgov.models import AuditEntry
from secgov.models import Setting as SettingRow

DEFAULT_POLICY = {
    "enabled": True,
    "critical_sectors": [
        "government", "finance", "energy", "transport", "telecom", "public_safety", "utilities", "social_management",
    ],
    "restricted_roles": ["planner", "builder", "operator"],
    "restricted_origins": ["foreign", "joint_venture"],
}  # fmt: skip
# The assessments domain's settings as installed (catalog defaults).
ASSESSMENT_DEFAULTS = {
    "assessment_intervals": {
        "mlps_evaluation": {"2": 24, "3": 12, "4": 6, "5": 6},
        "cii_annual": 12,
        "self_inspection": 12,
        "due_soon_days": 30,
    },
    "assessment_scoring": {
        "weights": dict.fromkeys(
            [
                "policies",
                "equipment_review",
                "system_protection",
                "information_protection",
                "construction_operations",
                "security_standards",
            ],
            1,
        ),
        "thresholds": {"excellent": 90, "good": 80, "fair": 70},
    },
    "risk_matrix": "nist_800_30",
    "risk_review_months": {"very_high": 1, "high": 3, "moderate": 6, "low": 12, "very_low": 12},
}


@pytest.fixture
def admins(city, make_user, api_token):
    """The city's admin (root department) and the transport bureau's admin (bureau a), each with a
    web client signed in and an API token."""
    bureau = make_user("transport.admin", roles=("admin",), department="a", mfa=True)
    chief = make_user("city.admin", roles=("admin",), department="city", mfa=True)
    return {
        "city": chief,
        "bureau": bureau,
        "city_token": {"Authorization": f"Bearer {api_token(chief)}", "Accept-Language": "en"},
        "bureau_token": {"Authorization": f"Bearer {api_token(bureau)}", "Accept-Language": "en"},
    }


def stored(app) -> dict:
    with Session(app.extensions["secgov_engine"]) as s:
        return {row.key: json.loads(row.value) for row in s.exec(select(SettingRow)).all()}


def entries(app, action: str) -> list[AuditEntry]:
    with Session(app.extensions["secgov_engine"]) as s:
        return list(s.exec(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)).all())


def post_setting(client, key: str, **fields):
    return client.post(
        "/admin/settings", data={"setting": key, "csrf_token": csrf_token(client, "/admin/settings"), **fields}
    )


# --- who may change them ---------------------------------------------------------------------


def test_a_bureau_admin_cannot_switch_off_mfa_or_the_vendor_policy(app, client, admins):
    """The attack from outside: an admin of the transport bureau switched off MFA for the whole
    city and disabled the vendor-origin policy with nothing but a CSRF token."""
    login(client, admins["bureau"])
    page = client.get("/admin/settings", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Only the administrators of the city change them" in page
    assert 'name="setting"' not in page  # read only: no form to post

    mfa_off = post_setting(client, "mfa_required_roles")  # no box ticked: nobody needs MFA
    policy_off = post_setting(client, "vendor_origin_policy", critical_sectors=["transport"])
    assert mfa_off.status_code == policy_off.status_code == 403
    api = client.patch(
        "/api/v1/settings",
        json={"mfa_required_roles": [], "vendor_origin_policy": {**DEFAULT_POLICY, "enabled": False}},
        headers=admins["bureau_token"],
    )
    assert api.status_code == 403 and api.json["error"]["code"] == "forbidden"

    assert stored(app) == {}
    denied = entries(app, "setting.denied")
    assert len(denied) == 3 and {e.actor for e in denied} == {"transport.admin"}
    assert [json.loads(e.detail)["keys"] for e in denied] == [
        ["mfa_required_roles"],
        ["vendor_origin_policy"],
        ["mfa_required_roles", "vendor_origin_policy"],
    ]
    assert entries(app, "setting.changed") == []


def test_the_city_admin_changes_settings_on_the_page(app, client, admins):
    login(client, admins["city"])
    assert 'name="setting" value="mfa_required_roles"' in client.get("/admin/settings").get_data(as_text=True)
    response = post_setting(client, "mfa_required_roles", mfa_required_roles=["leader", "admin"])
    assert response.status_code == 302
    assert stored(app) == {"mfa_required_roles": ["admin", "leader"]}
    [change] = entries(app, "setting.changed")
    assert json.loads(change.detail) == {
        "before": {"mfa_required_roles": ["admin"]},
        "after": {"mfa_required_roles": ["admin", "leader"]},
    }
    assert change.actor == "city.admin"
    # Saving the same value again changes nothing and records nothing.
    assert post_setting(client, "mfa_required_roles", mfa_required_roles=["admin", "leader"]).status_code == 302
    assert len(entries(app, "setting.changed")) == 1
    # The page says who changed it.
    assert "city.admin" in client.get("/admin/settings").get_data(as_text=True)


def test_a_bad_value_on_the_page_is_named_and_changes_nothing(app, client, admins):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(client, admins["city"])
    response = post_setting(client, "scan_allowed_networks", scan_allowed_networks="127.0.0.0/24\n10.0.0.0/8")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "10.0.0.0/8 is outside the networks this installation allows (127.0.0.0/8)." in page
    assert "127.0.0.0/24\n10.0.0.0/8</textarea>" in page  # what was typed is shown again
    assert stored(app) == {}


def test_the_finding_triage_days_on_the_page(app, client, admins):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(client, admins["city"])
    assert 'name="finding_triage_days" value="7"' in client.get("/admin/settings").get_data(as_text=True)
    for bad in ("0", "91", "seven"):
        response = post_setting(client, "finding_triage_days", finding_triage_days=bad)
        assert response.status_code == 422
        assert "The triage time is a whole number of days from 1 to 90." in response.get_data(as_text=True)
    assert stored(app) == {} and entries(app, "setting.changed") == []
    assert post_setting(client, "finding_triage_days", finding_triage_days="14").status_code == 302
    assert stored(app) == {"finding_triage_days": 14}


# --- the API -------------------------------------------------------------------------------------


APPRAISAL_WEIGHTS = {
    "assessments_on_time": 20,
    "risks_treated_on_time": 20,
    "remediation_time": 10,
    "drills_held": 20,
    "actions_on_time": 15,
    "findings_triaged": 15,
}


def test_the_appraisal_weights_on_the_page_add_up_to_100(app, client, admins):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(client, admins["city"])
    page = client.get("/admin/settings").get_data(as_text=True)
    assert 'name="appraisal_weights.drills_held" value="20"' in page and "Drills held as required" in page
    fields = {f"appraisal_weights.{code}": str(weight) for code, weight in APPRAISAL_WEIGHTS.items()}
    response = post_setting(client, "appraisal_weights", **{**fields, "appraisal_weights.drills_held": "25"})
    assert response.status_code == 422
    assert "The weights must add up to 100; these add up to 105." in response.get_data(as_text=True)
    response = post_setting(client, "appraisal_weights", **{**fields, "appraisal_weights.drills_held": "x"})
    assert response.status_code == 422 and "whole number from 0 to 100" in response.get_data(as_text=True)
    assert stored(app) == {} and entries(app, "setting.changed") == []
    changed = {**fields, "appraisal_weights.drills_held": "30", "appraisal_weights.findings_triaged": "5"}
    assert post_setting(client, "appraisal_weights", **changed).status_code == 302
    assert stored(app) == {"appraisal_weights": {**APPRAISAL_WEIGHTS, "drills_held": 30, "findings_triaged": 5}}


def test_settings_are_read_as_code(client, admins, make_user, api_token):
    got = client.get("/api/v1/settings", headers=admins["bureau_token"])
    assert got.status_code == 200
    assert got.json == {
        "mfa_required_roles": ["admin"],
        "scan_allowed_networks": ["127.0.0.0/8"],
        "vendor_origin_policy": DEFAULT_POLICY,
        **ASSESSMENT_DEFAULTS,
        "finding_triage_days": 7,
        "drill_coverage_months": 12,
        "appraisal_weights": APPRAISAL_WEIGHTS,
    }
    auditor = {"Authorization": f"Bearer {api_token(make_user('audrey', roles=('auditor',), department='b'))}"}
    assert client.get("/api/v1/settings", headers=auditor).json == got.json
    officer = {"Authorization": f"Bearer {api_token(make_user('olga', roles=('officer',), department='city'))}"}
    assert client.get("/api/v1/settings", headers=officer).status_code == 403
    # What GET gives, PATCH takes back unchanged: nothing is stored or recorded (the defaults stay
    # defaults, following the installation's configuration).
    assert client.patch("/api/v1/settings", json=got.json, headers=admins["city_token"]).json == got.json
    assert stored(client.application) == {}
    assert entries(client.application, "setting.changed") == []


def test_patch_is_all_or_nothing_and_audited(app, client, admins):
    headers = admins["city_token"]
    half_bad = {"mfa_required_roles": ["admin", "officer"], "scan_allowed_networks": ["10.1.0.0/16"]}
    refused = client.patch("/api/v1/settings", json=half_bad, headers=headers)
    assert refused.status_code == 422
    assert refused.json["error"]["details"] == [
        {
            "field": "scan_allowed_networks",
            "message": "10.1.0.0/16 is outside the networks this installation allows (127.0.0.0/8).",
        }
    ]
    assert stored(app) == {} and entries(app, "setting.changed") == []

    policy = {**DEFAULT_POLICY, "enabled": False}
    good = {
        "mfa_required_roles": ["officer", "admin"],
        "scan_allowed_networks": ["127.0.0.1/24"],
        "vendor_origin_policy": policy,
    }
    answer = client.patch("/api/v1/settings", json=good, headers=headers)
    assert answer.status_code == 200
    assert answer.json == {
        "mfa_required_roles": ["admin", "officer"],
        "scan_allowed_networks": ["127.0.0.0/24"],  # normalised
        "vendor_origin_policy": policy,
        **ASSESSMENT_DEFAULTS,
        "finding_triage_days": 7,
        "drill_coverage_months": 12,
        "appraisal_weights": APPRAISAL_WEIGHTS,
    }
    changes = {e.object_id: json.loads(e.detail) for e in entries(app, "setting.changed")}
    assert changes["scan_allowed_networks"] == {
        "before": {"scan_allowed_networks": ["127.0.0.0/8"]},
        "after": {"scan_allowed_networks": ["127.0.0.0/24"]},
    }
    assert changes["vendor_origin_policy"]["before"]["vendor_origin_policy"]["enabled"] is True
    assert set(changes) == {"mfa_required_roles", "scan_allowed_networks", "vendor_origin_policy"}

    # null puts a setting back to its default (audited as a reset).
    reset = client.patch("/api/v1/settings", json={"scan_allowed_networks": None}, headers=headers)
    assert reset.json["scan_allowed_networks"] == ["127.0.0.0/8"]
    assert "scan_allowed_networks" not in stored(app)
    assert json.loads(entries(app, "setting.changed")[-1].detail)["reset"] is True


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mfa_required_roles": ["root"]}, "mfa_required_roles.0"),
        ({"mfa_required_roles": "admin"}, "mfa_required_roles"),
        ({"scan_allowed_networks": ["-iL /etc/hosts"]}, "scan_allowed_networks"),
        ({"scan_allowed_networks": ["::1/128"]}, "scan_allowed_networks"),
        ({"scan_allowed_networks": ["0.0.0.0/0"]}, "scan_allowed_networks"),
        ({"scan_allowed_networks": ["127.0.0.1"] * 101}, "scan_allowed_networks"),
        (
            {"vendor_origin_policy": {**DEFAULT_POLICY, "restricted_roles": ["advisor"]}},
            "vendor_origin_policy.restricted_roles.0",
        ),
        ({"vendor_origin_policy": {**DEFAULT_POLICY, "enabled": "maybe"}}, "vendor_origin_policy.enabled"),
        ({"vendor_origin_policy": {"enabled": False}}, "vendor_origin_policy.critical_sectors"),
        ({"finding_triage_days": 0}, "finding_triage_days"),
        ({"finding_triage_days": 91}, "finding_triage_days"),
        ({"no_such_setting": 1}, "no_such_setting"),
    ],
)
def test_bad_settings_are_refused_by_name(app, client, admins, body, field):
    response = client.patch("/api/v1/settings", json=body, headers={**admins["city_token"], "Accept-Language": "en"})
    assert response.status_code == 422, response.json
    assert field in {d["field"] for d in response.json["error"]["details"]}
    assert stored(app) == {}


def test_the_openapi_document_describes_the_settings(client):
    document = client.get("/api/v1/openapi.json").json
    assert set(document["paths"]["/api/v1/settings"]) == {"get", "patch"}
    schemas = json.dumps(document["components"]["schemas"])
    assert "vendor_origin_policy" in schemas and "scan_allowed_networks" in schemas


# --- the allowed scan networks: a ceiling from the environment ---------------------------------


def test_the_networks_setting_can_only_narrow_the_ceiling(app, session):
    config = ServiceConfig(scan_allowed_networks=("127.0.0.0/8", "::1/128"))
    check = settings.SCAN_ALLOWED_NETWORKS.check
    assert check(["127.0.0.0/24", "::1", "127.0.0.5"], config) == ["127.0.0.0/24", "::1/128", "127.0.0.5/32"]
    assert check([], config) == []  # no scans at all: a city may decide so
    for wider in (["127.0.0.0/7"], ["10.0.0.0/8"], ["::/0"], ["fe80::/64"]):
        with pytest.raises(Invalid):
            check(wider, config)


def test_a_ceiling_narrowed_later_still_wins(app, session):
    """The setting stored under a wide ceiling is clipped when the installation narrows it."""
    with app.test_request_context():
        networks = {"scan_allowed_networks": ["127.0.0.0/16"]}
        settings.update(session, [settings.SCAN_ALLOWED_NETWORKS], networks, Actor.system(), config_of(app))
        session.commit()
        narrower = ServiceConfig(scan_allowed_networks=("127.0.1.0/24",))
        assert settings.allowed_networks(session, narrower) == [ipaddress.ip_network("127.0.1.0/24")]
        assert settings.allowed_networks(session, config_of(app)) == [ipaddress.ip_network("127.0.0.0/16")]


def test_a_malformed_ceiling_stops_the_app_at_start(database_url):
    with pytest.raises(SystemExit, match="SECGOV_SCAN_ALLOWED_NETWORKS: not a network: '127.0.0.0/33'"):
        create_app({"SECRET_KEY": "x", "DATABASE_URL": database_url, "SECGOV_SCAN_ALLOWED_NETWORKS": "127.0.0.0/33"})
