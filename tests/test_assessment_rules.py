"""The methodology of assessments and risks (assessments.rule), as a leader reads it in the README:
every cell of both matrices, area ratings, the weighted score, the conclusions, and when each kind
of assessment falls due at each MLPS level and for CII. Pure rules: no database."""

from __future__ import annotations

from datetime import date

import pytest

from assessments import rule
from assessments.rule import AssetFacts
from secgov.config import ServiceConfig
from secgov.errors import Invalid

pytestmark = pytest.mark.nodb

# NIST SP 800-30 Rev. 1, table I-2, written out here from the publication (rows: likelihood very
# high .. very low; columns: impact very low .. very high), independently of the catalog.
VL, L, M, H, VH = "very_low", "low", "moderate", "high", "very_high"
TABLE_I2 = {
    5: [VL, L, M, H, VH],
    4: [VL, L, M, H, VH],
    3: [VL, L, M, M, H],
    2: [VL, L, L, L, M],
    1: [VL, VL, VL, L, L],
}


@pytest.mark.parametrize("likelihood", range(1, 6))
@pytest.mark.parametrize("impact", range(1, 6))
def test_every_cell_of_nist_table_i2(likelihood, impact):
    assert rule.level_of(likelihood, impact) == TABLE_I2[likelihood][impact - 1]
    assert rule.level_of(likelihood, impact, "nist_800_30") == TABLE_I2[likelihood][impact - 1]


@pytest.mark.parametrize("likelihood", range(1, 6))
@pytest.mark.parametrize("impact", range(1, 6))
def test_every_cell_of_the_multiplication_profile(likelihood, impact):
    product = likelihood * impact
    expected = VL if product <= 2 else L if product <= 4 else M if product <= 9 else H if product <= 16 else VH
    assert rule.level_of(likelihood, impact, "multiplication") == expected


def test_the_two_profiles_differ_where_the_table_is_not_symmetric():
    # NIST rates a very likely, very-low-impact event very low; by the product it is moderate.
    assert rule.level_of(5, 1, "nist_800_30") == VL
    assert rule.level_of(5, 1, "multiplication") == M
    assert rule.level_of(3, 4) == M and rule.level_of(3, 4, "multiplication") == H


@pytest.mark.parametrize("likelihood, impact", [(0, 3), (6, 3), (3, 0), (3, 6)])
def test_out_of_scale_values_have_no_level(likelihood, impact):
    with pytest.raises(ValueError):
        rule.level_of(likelihood, impact)


def test_an_area_rating_counts_partial_as_half_and_leaves_out_not_applicable():
    assert rule.area_rating(["implemented", "partial", "not_implemented", "not_applicable"]) == 50.0
    assert rule.area_rating(["implemented"] * 3 + ["planned"]) == 75.0
    assert rule.area_rating(["not_applicable"]) is None
    assert rule.area_rating([]) is None


def test_the_overall_score_is_the_weighted_mean_of_the_rated_areas():
    ratings = {"policies": 100.0, "equipment_review": 50.0, "system_protection": None}
    assert rule.overall_score(ratings, {"policies": 1, "equipment_review": 1, "system_protection": 1}) == 75.0
    assert rule.overall_score(ratings, {"policies": 3, "equipment_review": 1, "system_protection": 1}) == 87.5
    assert rule.overall_score({"policies": None}, {"policies": 1}) is None
    assert rule.overall_score({"policies": 80.0}, {"policies": 0}) is None


THRESHOLDS = {"excellent": 90, "good": 80, "fair": 70}


@pytest.mark.parametrize(
    "score, expected",
    [(100, "excellent"), (90, "excellent"), (89.9, "good"), (80, "good"), (79.9, "fair"), (70, "fair"),
     (69.9, "poor"), (0, "poor"), (None, "poor")],
)  # fmt: skip
def test_conclusions_by_score(score, expected):
    assert rule.conclusion_of(score, THRESHOLDS, severe_risk_open=False) == expected


def test_an_open_high_risk_makes_any_score_poor():
    assert rule.conclusion_of(100, THRESHOLDS, severe_risk_open=True) == "poor"


def test_months_are_added_to_the_last_day_of_short_months():
    assert rule.add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert rule.add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert rule.add_months(date(2026, 11, 15), 2) == date(2027, 1, 15)
    assert rule.add_months(date(2026, 3, 15), -3) == date(2025, 12, 15)


INTERVALS = rule._intervals_default(ServiceConfig())
GRADED = date(2026, 1, 10)


def facts(level=None, cii=False, lifecycle="operational", designated=None):
    return AssetFacts(1, level, cii, lifecycle, GRADED if level else None, designated)


def due(f, last=None):
    return {d.kind: d.due_on for d in rule.due_dates(f, last or {}, INTERVALS, date(2025, 6, 1))}


@pytest.mark.parametrize("level, mlps_months", [(1, None), (2, 24), (3, 12), (4, 6), (5, 6)])
def test_a_system_never_assessed_is_due_its_interval_after_grading(level, mlps_months):
    expected = {"self_inspection": date(2027, 1, 10)}
    if mlps_months:
        expected["mlps_evaluation"] = rule.add_months(GRADED, mlps_months)
    assert due(facts(level)) == expected


def test_the_next_assessment_follows_the_last_approved_one():
    last = {"mlps_evaluation": (date(2026, 3, 20), 7), "self_inspection": (date(2026, 9, 1), 8)}
    assert due(facts(4), last) == {"mlps_evaluation": date(2026, 9, 20), "self_inspection": date(2027, 9, 1)}


def test_cii_is_assessed_yearly_from_its_designation():
    assert due(facts(3, cii=True, designated=date(2026, 5, 4)))["cii_annual"] == date(2027, 5, 4)
    # A CII system without a recorded designation counts from its grading, else its registration.
    assert due(facts(3, cii=True))["cii_annual"] == date(2027, 1, 10)
    assert due(facts(None, cii=True)) == {"cii_annual": date(2026, 6, 1)}


def test_ungraded_planned_and_retired_systems_are_not_due():
    assert due(facts(None)) == {}
    assert due(facts(3, lifecycle="planned")) == {}
    assert due(facts(3, cii=True, lifecycle="retired")) == {}
    assert set(due(facts(3, lifecycle="building"))) == {"mlps_evaluation", "self_inspection"}


def test_an_interval_of_zero_means_not_required():
    intervals = {**INTERVALS, "self_inspection": 0, "mlps_evaluation": {"3": 12}}
    found = {d.kind for d in rule.due_dates(facts(4), {}, intervals, date(2025, 1, 1))}
    assert found == set()


def test_due_states_by_date():
    d = rule.Due(1, "self_inspection", 12, date(2026, 12, 31), None, None)
    assert d.state(date(2026, 12, 1), 30) == "due_soon"
    assert d.state(date(2026, 11, 30), 30) == "on_time"
    assert d.state(date(2026, 12, 31), 30) == "due_soon"
    assert d.state(date(2027, 1, 1), 30) == "overdue"


def test_reviews_follow_the_level():
    months = {"very_high": 1, "high": 3, "moderate": 6, "low": 12, "very_low": 12}
    assert rule.review_due("very_high", date(2026, 1, 31), months) == date(2026, 2, 28)
    assert rule.review_due("high", date(2026, 1, 31), months) == date(2026, 4, 30)


@pytest.mark.parametrize(
    "setting, value, message",
    [
        (rule.SCORING, {"weights": dict.fromkeys(rule.AREA.codes, 0), "thresholds": THRESHOLDS}, "weight"),
        (
            rule.SCORING,
            {"weights": dict.fromkeys(rule.AREA.codes, 1), "thresholds": {**THRESHOLDS, "good": 95}},
            "fall",
        ),
        (rule.SCORING, {"weights": dict.fromkeys(rule.AREA.codes, -1), "thresholds": THRESHOLDS}, "0 to 100"),
        (rule.INTERVALS, {**INTERVALS, "cii_annual": 61}, "0 (never) to 60"),
        (rule.INTERVALS, {**INTERVALS, "self_inspection": True}, "0 (never) to 60"),
        (rule.INTERVALS, {**INTERVALS, "due_soon_days": 0}, "1 to 180"),
        (rule.MATRIX, "custom", "Unknown risk matrix"),
        (rule.REVIEWS, {"very_high": 0, "high": 3, "moderate": 6, "low": 12, "very_low": 12}, "1 to 24"),
    ],
)
def test_bad_settings_are_refused_with_a_message(app_context_en, setting, value, message):
    with pytest.raises(Invalid) as refused:
        setting.check(value, ServiceConfig())
    assert message in refused.value.message


def test_good_settings_are_normalised(app_context_en):
    value = {"weights": {**dict.fromkeys(rule.AREA.codes, 1), "policies": 2.0}, "thresholds": THRESHOLDS}
    assert rule.SCORING.check(value, ServiceConfig())["weights"]["policies"] == 2
    assert rule.INTERVALS.check({**INTERVALS, "mlps_evaluation": {"3": 12, "4": 0}}, ServiceConfig())[
        "mlps_evaluation"
    ] == {"3": 12}


@pytest.fixture
def app_context_en():
    from flask import Flask
    from flask_babel import Babel

    app = Flask(__name__)
    Babel(app, locale_selector=lambda: "en")
    with app.test_request_context():
        yield
