"""The vendor-origin policy as a pure function: the full truth table and its refinements."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest

from assets.codes import VENDOR_ORIGIN, VENDOR_ROLE
from assets.models import Asset, Engagement, Vendor, VendorExemption
from assets.rule import POLICY, evaluate
from secgov import catalog
from secgov.codes import SECTOR
from secgov.config import ServiceConfig
from secgov.errors import Invalid

pytestmark = pytest.mark.nodb

TODAY = date(2025, 6, 15)
CRITICAL, NON_CRITICAL = "transport", "healthcare"
ROLES = VENDOR_ROLE.codes
ORIGINS = VENDOR_ORIGIN.codes
RESTRICTED_ROLES = {"planner", "builder", "operator"}
RESTRICTED_ORIGINS = {"foreign", "joint_venture"}


def default_policy() -> dict:
    return POLICY.default(ServiceConfig())


def check_policy(value):
    return POLICY.check(value, ServiceConfig())


def asset(sector: str = CRITICAL, classified: bool = False) -> Asset:
    return Asset(id=1, code="A-1", name="A", sector=sector, department_id=1, classified=classified)


def engagement(role: str = "builder", started_on=date(2020, 1, 1), ended_on=None, id: int = 10) -> Engagement:
    return Engagement(id=id, asset_id=1, vendor_id=5, role=role, started_on=started_on, ended_on=ended_on)


def vendor(origin: str = "foreign") -> Vendor:
    return Vendor(id=5, name="V", origin=origin, country="US")


def exemption(status: str = "approved", expires_on=TODAY + timedelta(days=30), engagement_id: int = 10):
    return VendorExemption(
        id=7, engagement_id=engagement_id, reason="r", expires_on=expires_on, status=status, requested_by="x"
    )


def outcomes(findings) -> list[str]:
    return [f.outcome for f in findings]


# --- the truth table: sector class x role x origin x classified = 72 cases -----------------------

CASES = list(itertools.product((CRITICAL, NON_CRITICAL), ROLES, ORIGINS, (True, False)))


def expected(sector: str, role: str, origin: str, classified: bool) -> list[str]:
    if sector == CRITICAL and role in RESTRICTED_ROLES and origin in RESTRICTED_ORIGINS:
        return ["violation" if classified else "warning"]
    return []


def test_the_truth_table_is_complete():
    assert len(CASES) == 72
    assert set(catalog.critical_sectors()) >= {CRITICAL} and NON_CRITICAL not in catalog.critical_sectors()
    assert set(catalog.restricted_roles()) == RESTRICTED_ROLES
    assert sum(1 for case in CASES if expected(*case)) == 12  # 3 roles x 2 origins x 2 classified


@pytest.mark.parametrize(("sector", "role", "origin", "classified"), CASES)
def test_truth_table(sector, role, origin, classified):
    e, v = engagement(role), vendor(origin)
    findings = evaluate(asset(sector, classified), [(e, v)], [], default_policy(), TODAY)
    assert outcomes(findings) == expected(sector, role, origin, classified)
    for finding in findings:
        assert finding.engagement is e and finding.vendor is v and finding.exemption is None


def test_every_critical_sector_of_the_catalog_triggers():
    for sector in SECTOR.codes:
        findings = evaluate(asset(sector), [(engagement(), vendor())], [], default_policy(), TODAY)
        assert outcomes(findings) == (["warning"] if sector in catalog.critical_sectors() else []), sector


# --- switches and dates ----------------------------------------------------------------------


def test_policy_disabled_finds_nothing():
    policy = {**default_policy(), "enabled": False}
    assert evaluate(asset(classified=True), [(engagement(), vendor())], [], policy, TODAY) == []
    assert evaluate(asset(), [(engagement(), vendor())], [], policy, TODAY) == []


@pytest.mark.parametrize(
    ("started_on", "ended_on", "active"),
    [
        (date(2020, 1, 1), None, True),
        (None, None, True),
        (date(2020, 1, 1), TODAY, True),  # the last day still counts
        (TODAY, None, True),  # so does the first
        (date(2020, 1, 1), TODAY - timedelta(days=1), False),  # ended
        (TODAY + timedelta(days=1), None, False),  # not started yet
    ],
)
def test_only_engagements_active_today_count(started_on, ended_on, active):
    e = engagement(started_on=started_on, ended_on=ended_on)
    assert outcomes(evaluate(asset(), [(e, vendor())], [], default_policy(), TODAY)) == (["warning"] if active else [])
    classified = evaluate(asset(classified=True), [(e, vendor())], [], default_policy(), TODAY)
    assert outcomes(classified) == (["violation"] if active else [])


def test_each_engagement_is_judged_on_its_own():
    pairs = [
        (engagement("builder", id=1), vendor("foreign")),
        (engagement("advisor", id=2), vendor("foreign")),
        (engagement("operator", id=3), vendor("joint_venture")),
        (engagement("planner", id=4), vendor("domestic")),
    ]
    findings = evaluate(asset(), pairs, [], default_policy(), TODAY)
    assert [(f.engagement.id, f.outcome) for f in findings] == [(1, "warning"), (3, "warning")]


# --- exemptions ------------------------------------------------------------------------------


def test_approved_unexpired_exemption_clears_a_warning():
    x = exemption()
    findings = evaluate(asset(), [(engagement(), vendor())], [x], default_policy(), TODAY)
    assert outcomes(findings) == ["exempted"]
    assert findings[0].exemption is x


def test_exemption_never_clears_a_violation():
    findings = evaluate(asset(classified=True), [(engagement(), vendor())], [exemption()], default_policy(), TODAY)
    assert outcomes(findings) == ["violation"]
    assert findings[0].exemption is None


@pytest.mark.parametrize(
    "x",
    [
        exemption(expires_on=TODAY - timedelta(days=1)),  # expired
        exemption(expires_on=TODAY),  # ends on its expiry day
        exemption(status="pending"),
        exemption(status="rejected"),
        exemption(engagement_id=99),  # another engagement's
    ],
    ids=["expired", "expires-today", "pending", "rejected", "other-engagement"],
)
def test_exemptions_that_do_not_clear(x):
    assert outcomes(evaluate(asset(), [(engagement(), vendor())], [x], default_policy(), TODAY)) == ["warning"]


def test_the_longest_running_exemption_is_named():
    short, long = exemption(expires_on=TODAY + timedelta(days=5)), exemption(expires_on=TODAY + timedelta(days=50))
    findings = evaluate(asset(), [(engagement(), vendor())], [short, long], default_policy(), TODAY)
    assert findings[0].exemption is long


# --- configuration ---------------------------------------------------------------------------


def test_configured_critical_sectors_are_honoured():
    policy = {**default_policy(), "critical_sectors": [NON_CRITICAL]}
    assert outcomes(evaluate(asset(NON_CRITICAL), [(engagement(), vendor())], [], policy, TODAY)) == ["warning"]
    assert evaluate(asset(CRITICAL), [(engagement(), vendor())], [], policy, TODAY) == []


def test_configured_restricted_roles_are_honoured():
    policy = {**default_policy(), "restricted_roles": ["operator"]}
    assert outcomes(evaluate(asset(), [(engagement("operator"), vendor())], [], policy, TODAY)) == ["warning"]
    assert evaluate(asset(), [(engagement("builder"), vendor())], [], policy, TODAY) == []
    assert evaluate(asset(), [(engagement("planner"), vendor())], [], policy, TODAY) == []


def test_configured_restricted_origins_are_honoured():
    policy = {**default_policy(), "restricted_origins": ["joint_venture"]}
    assert outcomes(evaluate(asset(), [(engagement(), vendor("joint_venture"))], [], policy, TODAY)) == ["warning"]
    assert evaluate(asset(), [(engagement(), vendor("foreign"))], [], policy, TODAY) == []
    policy = {**default_policy(), "restricted_origins": ["domestic", "foreign", "joint_venture"]}
    assert outcomes(evaluate(asset(), [(engagement(), vendor("domestic"))], [], policy, TODAY)) == ["warning"]


def test_advisers_investors_and_suppliers_never_trigger_even_if_configured():
    policy = {**default_policy(), "restricted_roles": list(ROLES)}  # what the validator would refuse
    for role in ("advisor", "investor", "product_supplier"):
        assert evaluate(asset(classified=True), [(engagement(role), vendor())], [], policy, TODAY) == []


# --- the setting -----------------------------------------------------------------------------


def test_default_setting():
    policy = default_policy()
    assert policy["enabled"] is True
    assert policy["critical_sectors"] == catalog.critical_sectors()
    assert policy["restricted_roles"] == ["planner", "builder", "operator"]
    assert policy["restricted_origins"] == ["foreign", "joint_venture"]
    assert check_policy(policy) == policy


def test_setting_is_normalised_to_catalog_order_without_duplicates():
    value = check_policy(
        {
            "enabled": False,
            "critical_sectors": ["energy", "transport", "energy"],
            "restricted_roles": ["operator", "planner"],
            "restricted_origins": [],
        }
    )
    assert value == {
        "enabled": False,
        "critical_sectors": ["energy", "transport"],
        "restricted_roles": ["planner", "operator"],
        "restricted_origins": [],
    }


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"critical_sectors": ["space"]}, "critical_sectors"),
        ({"restricted_roles": ["advisor"]}, "restricted_roles"),
        ({"restricted_roles": ["investor"]}, "restricted_roles"),
        ({"restricted_origins": ["martian"]}, "restricted_origins"),
        ({"restricted_origins": "foreign"}, "restricted_origins"),
        ({"critical_sectors": [1]}, "critical_sectors"),
        ({"enabled": "yes"}, "vendor_origin_policy"),
        ({"extra": True}, "vendor_origin_policy"),
    ],
)
def test_setting_refuses_unknown_codes_and_bad_shapes(change, field):
    with pytest.raises(Invalid) as caught:
        check_policy({**default_policy(), **change})
    assert caught.value.field == field


def test_setting_refuses_a_non_object():
    for value in (None, [], "on", {"enabled": True}):
        with pytest.raises(Invalid):
            check_policy(value)
