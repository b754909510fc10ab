"""The security controls of an asset: grouped by assessment area with counts that add up, the
filter by status, saving several controls at once (all or nothing), readers' view, the demo's
review dates."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest
from factories import load_demo_city
from fuzz_support import FUZZ_SETTINGS, assert_clean, form_values
from helpers import csrf_token, login
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import select

from assets import controls, services
from assets.codes import CONTROL_STATUS
from assets.models import Asset, AssetControl, Control
from assets.schemas import MAX_CONTROL_CHANGES, AssetControlsUpdate
from secgov.codes import AREA
from secgov.models import AuditEntry

STATUSES = CONTROL_STATUS.codes
EN = {"Accept-Language": "en"}


class ControlsPage(HTMLParser):
    """What an asset page shows of its controls: the areas (open or not), the control ids listed,
    and the fields of the form that saves them as a browser would post them."""

    def __init__(self, html: str):
        super().__init__()
        self.areas: list[tuple[str, bool]] = []  # (area name, open)
        self.rows: list[str] = []  # control ids, in page order
        self.fields: dict[str, str] = {}
        self.post_forms: list[str] = []
        self._select: str | None = None
        self._textarea: str | None = None
        self._summary = False
        self._form = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and (attrs.get("method") or "get").lower() == "post":
            self.post_forms.append(attrs.get("action", ""))
            self._form = attrs.get("action", "")
        elif tag == "details" and "area" in (attrs.get("class") or ""):
            self.areas.append(["", "open" in attrs])
        elif tag == "span" and attrs.get("class") == "area-name":
            self._summary = True
        elif tag == "input" and (attrs.get("name") or "").startswith(("version:", "evidence:")):
            self.fields[attrs["name"]] = attrs.get("value") or ""
            if attrs["name"].startswith("version:"):
                self.rows.append(attrs["name"].partition(":")[2])
        elif tag == "textarea" and (attrs.get("name") or "").startswith("evidence:"):
            self._textarea = attrs["name"]
            self.fields[self._textarea] = ""
        elif tag == "select" and (attrs.get("name") or "").startswith("status:"):
            self._select = attrs["name"]
        elif tag == "option" and self._select and "selected" in attrs:
            self.fields[self._select] = attrs["value"]
        elif tag == "tr" and "data-control" in attrs:
            self.rows.append(attrs["data-control"])

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "span":
            self._summary = False

    def handle_data(self, data):
        if self._textarea:
            self.fields[self._textarea] += data
        if self._summary:
            self.areas[-1][0] += data.strip()


def status_counts(html: str) -> tuple[dict[str, int], int]:
    """The counts of the asset's coverage line, by status label (English), and the total."""
    block = re.search(r'<ul class="status-counts".*?</ul>', html, re.S).group(0)
    pairs = re.findall(r'<span class="status[^"]*">(\d+)</span> ([^<]+?)</li>', block)
    counts = {label.strip(): int(n) for n, label in pairs}
    total = counts.pop("in total")
    return counts, total


@pytest.fixture
def graded(make_asset, city, session):
    """A level-3 IoT asset of department a1 with statuses spread over its areas: the first control
    of each area implemented, the second not implemented (in two areas only), the third not
    applicable, the rest as graded (not implemented) except those of information protection
    (partial). Returns the asset."""
    asset = make_asset("SIG-9", "a1", owner="officer.a", mlps_level=3, mlps_extensions=["iot"], mlps_filing_number="F")
    rows = session.exec(
        select(AssetControl, Control)
        .join(Control, Control.id == AssetControl.control_id)
        .where(AssetControl.asset_id == asset.id)
        .order_by(Control.position)
    ).all()
    seen: dict[str, int] = {}
    for row, control in rows:
        n = seen[control.area] = seen.get(control.area, 0) + 1
        if control.area == "information_protection":
            row.status = "partial"
        elif n == 1 or (n >= 4 and control.area in ("policies", "equipment_review")):
            row.status = "implemented"
        elif n == 3:
            row.status = "not_applicable"
        elif n == 5:
            row.status = "planned"
        session.add(row)
    controls.recount(session, [asset.id])  # statuses written directly: the kept counts follow
    session.commit()
    return asset


def _reads(session, asset):
    return {row.control_id: (row, control) for row, control in controls.asset_controls(session, asset)}


def test_the_overview_groups_by_area_and_its_counts_add_up(app, session, graded):
    with app.test_request_context(headers=EN):
        overview = controls.control_overview(session, graded, "en")
    by_id = _reads(session, graded)
    # Every required control once, in its catalog area, the areas in the catalog's order.
    listed = [item.control_id for area in overview.areas for item in area.items]
    assert sorted(listed) == sorted(by_id)
    assert [a.area for a in overview.areas] == [
        code for code in AREA.codes if any(a.area == code for a in overview.areas)
    ]
    for area in overview.areas:
        assert {by_id[i.control_id][1].area for i in area.items} == {area.area}
        positions = [by_id[i.control_id][1].position for i in area.items]
        assert positions == sorted(positions), "catalog order within an area"
        cov = area.coverage
        assert sum(cov.count(s) for s in STATUSES) == cov.required == len(area.items)
        assert cov.applicable == cov.required - cov.not_applicable
        expected = {s: sum(1 for i in area.items if i.status == s) for s in STATUSES}
        assert {s: cov.count(s) for s in STATUSES} == expected
        assert area.needs_attention == (expected["not_implemented"] > 0)
    total = overview.coverage
    assert sum(total.count(s) for s in STATUSES) == total.required == len(by_id)
    assert total.required == sum(a.coverage.required for a in overview.areas)
    assert total.not_applicable == sum(1 for row, _c in by_id.values() if row.status == "not_applicable") > 0
    # The same figures as the coverage the asset list and the departments show.
    assert controls.coverage_by_asset(session, [graded.id])[graded.id] == total
    assert {a.area for a in overview.areas if not a.needs_attention} == {"information_protection"}


def test_the_page_counts_every_status_and_says_how_coverage_is_computed(client, city, graded, session):
    login(client, city["officer_a"])
    html = client.get(f"/assets/{graded.id}", headers=EN).get_data(as_text=True)
    counts, total = status_counts(html)
    assert set(counts) == set(CONTROL_STATUS.labels("en").values()), "every status, not applicable too"
    assert sum(counts.values()) == total == len(_reads(session, graded))
    assert counts["Not applicable"] > 0
    applicable = total - counts["Not applicable"]
    assert f"out of the {applicable} applicable controls: the {counts['Not applicable']} not applicable" in html
    page = ControlsPage(html)
    # Each area's summary: its name, its count of controls, a badge per status it holds.
    names = [name for name, _open in page.areas]
    assert names[:2] == ["Management policies", "Equipment review"]
    summaries = re.findall(r'<span class="area-figures">(.*?)</span>\s*</summary>', html, re.S)
    assert sum(int(re.match(r"\s*(\d+) control", s).group(1)) for s in summaries) == total


def test_the_areas_that_need_attention_are_open(client, city, graded, session, app):
    login(client, city["officer_a"])
    page = ControlsPage(client.get(f"/assets/{graded.id}", headers=EN).get_data(as_text=True))
    with app.test_request_context(headers=EN):
        overview = controls.control_overview(session, graded, "en")
    labels = AREA.labels("en")
    assert page.areas == [[labels[a.area], a.needs_attention] for a in overview.areas]
    assert [o for _n, o in page.areas].count(False) == 1  # information protection: no gap


def test_the_filter_shows_only_the_chosen_statuses(client, city, graded, session):
    login(client, city["officer_a"])
    by_id = _reads(session, graded)
    html = client.get(f"/assets/{graded.id}?status=not_implemented&status=partial", headers=EN).get_data(as_text=True)
    page = ControlsPage(html)
    wanted = {cid for cid, (row, _c) in by_id.items() if row.status in ("not_implemented", "partial")}
    assert set(page.rows) == wanted and len(page.rows) == len(wanted)
    assert f"{len(wanted)} of {len(by_id)} controls shown; the areas with a control shown are open." in html
    # The counts still describe the whole asset; areas with a control shown are open.
    assert status_counts(html)[1] == len(by_id)
    assert all(is_open for _name, is_open in page.areas)
    assert 'value="not_implemented" checked' in html and 'value="partial" checked' in html
    # The form saves what it shows and keeps the filter.
    assert f"/assets/{graded.id}/controls?status=partial&amp;status=not_implemented" in html
    # Only not applicable: one area has none, shown closed with a note.
    html = client.get(f"/assets/{graded.id}?status=not_applicable", headers=EN).get_data(as_text=True)
    page = ControlsPage(html)
    assert set(page.rows) == {cid for cid, (row, _c) in by_id.items() if row.status == "not_applicable"}
    assert "No control of this area has the statuses chosen." in html
    assert ["Information protection", False] in page.areas
    # An unknown status is dropped with a warning; the page still shows every control.
    html = client.get(f"/assets/{graded.id}?status=broken&status=", headers=EN).get_data(as_text=True)
    assert "An unknown control status in the filter was left out." in html
    assert len(ControlsPage(html).rows) == len(by_id)


def _audited(session, asset_code: str) -> list[AuditEntry]:
    session.rollback()
    return session.exec(
        select(AuditEntry)
        .where(AuditEntry.action == "asset_control.updated", AuditEntry.object_id == asset_code)
        .order_by(AuditEntry.seq)
    ).all()


def _state(session, asset) -> dict:
    session.rollback()
    return {
        r.control_id: (r.status, r.evidence, r.reviewer, r.reviewed_on, r.version)
        for r in session.exec(select(AssetControl).where(AssetControl.asset_id == asset.id))
    }


def test_multi_line_evidence_survives_a_save_of_other_controls(client, city, graded, session, api_token):
    """Evidence of several lines (recorded through the API) comes back from the page's form as a
    browser posts a textarea, lines ending CRLF: it is the same evidence, not a change, and nobody
    becomes its reviewer by saving another control."""
    token = {"Authorization": f"Bearer {api_token(city['admin'])}"}
    items = client.get(f"/api/v1/assets/{graded.id}/controls", headers=token).json["items"]
    kept = items[0]
    recorded = client.patch(
        f"/api/v1/assets/{graded.id}/controls/{kept['control_id']}",
        json={"status": "implemented", "evidence": "Report 2026\nsection 4", "version": kept["version"]},
        headers=token,
    )
    assert recorded.status_code == 200
    login(client, city["officer_a"])
    html = client.get(f"/assets/{graded.id}").get_data(as_text=True)
    # An <input> would lose the line break: a browser takes newlines out of an input's value.
    assert f'<textarea name="evidence:{kept["control_id"]}"' in html
    page = ControlsPage(html)
    assert page.fields[f"evidence:{kept['control_id']}"] == "Report 2026\nsection 4"
    form = {k: v.replace("\n", "\r\n") for k, v in page.fields.items()}  # what a browser posts
    other = next(cid for cid in page.rows if cid != kept["control_id"])
    form[f"status:{other}"] = "planned"
    before = _state(session, graded)[kept["control_id"]]
    response = client.post(
        f"/assets/{graded.id}/controls",
        data={**form, "csrf_token": csrf_token(client, f"/assets/{graded.id}")},
        headers=EN,
    )
    assert response.status_code == 302
    assert _state(session, graded)[kept["control_id"]] == before
    saved = [json.loads(e.detail)["control"] for e in _audited(session, graded.code) if e.actor == "officer.a"]
    assert saved == [other]


def test_one_save_records_several_controls_each_audited(client, city, graded, session):
    login(client, city["officer_a"])
    page = ControlsPage(client.get(f"/assets/{graded.id}").get_data(as_text=True))
    before = _state(session, graded)
    assert len(page.rows) == len(before), "the form holds every control shown"
    first, second, third = page.rows[1], page.rows[7], page.rows[-1]
    form = dict(page.fields)
    form[f"status:{first}"] = "implemented"
    form[f"evidence:{first}"] = "Penetration test 2026-03"
    form[f"status:{second}"] = "planned"
    form[f"evidence:{third}"] = "https://intranet.city/evidence/42"
    response = client.post(
        f"/assets/{graded.id}/controls",
        data={**form, "csrf_token": csrf_token(client, f"/assets/{graded.id}")},
        headers=EN,
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/assets/{graded.id}#controls")
    assert "3 controls were saved." in client.get(response.headers["Location"], headers=EN).get_data(as_text=True)
    after = _state(session, graded)
    today = datetime.now(UTC).date()
    changed = {cid for cid in after if after[cid] != before[cid]}
    assert changed == {first, second, third}
    assert after[first][:2] == ("implemented", "Penetration test 2026-03")
    assert after[second][0] == "planned" and after[third][1] == "https://intranet.city/evidence/42"
    for cid in changed:
        assert after[cid][2:] == ("officer.a", today, before[cid][4] + 1)
    entries = _audited(session, graded.code)
    details = [json.loads(e.detail) for e in entries]
    assert [d["control"] for d in details] == [first, second, third]
    assert {e.actor for e in entries} == {"officer.a"}
    for detail in details:
        assert detail["after"]["reviewer"] == "officer.a"
        assert detail["before"]["status"] == before[detail["control"]][0]
    # The same page sent back as it is: nothing recorded, nobody re-stamped as reviewer.
    page = ControlsPage(client.get(f"/assets/{graded.id}").get_data(as_text=True))
    again = client.post(
        f"/assets/{graded.id}/controls",
        data={**page.fields, "csrf_token": csrf_token(client, f"/assets/{graded.id}")},
        headers=EN,
    )
    assert again.status_code == 302
    assert "No control was changed." in client.get(again.headers["Location"], headers=EN).get_data(as_text=True)
    assert _state(session, graded) == after
    assert len(_audited(session, graded.code)) == 3


def test_one_stale_version_refuses_the_whole_save(client, city, graded, session, api_token):
    login(client, city["officer_a"])
    page = ControlsPage(client.get(f"/assets/{graded.id}").get_data(as_text=True))
    stale, other = page.rows[4], page.rows[9]
    # Someone else records the control meanwhile (through the API).
    meanwhile = client.patch(
        f"/api/v1/assets/{graded.id}/controls/{stale}",
        json={
            "status": "not_applicable",
            "evidence": "decommissioned",
            "version": int(page.fields[f"version:{stale}"]),
        },
        headers={"Authorization": f"Bearer {api_token(city['admin'])}"},
    )
    assert meanwhile.status_code == 200
    before, audited = _state(session, graded), len(_audited(session, graded.code))
    form = dict(page.fields)
    form[f"status:{stale}"] = "implemented"
    form[f"status:{other}"] = "implemented"
    form[f"evidence:{other}"] = "my careful note"
    response = client.post(
        f"/assets/{graded.id}/controls",
        data={**form, "csrf_token": csrf_token(client, f"/assets/{graded.id}")},
        headers=EN,
    )
    assert response.status_code == 422
    assert _state(session, graded) == before, "nothing of the save was written"
    assert len(_audited(session, graded.code)) == audited
    html = response.get_data(as_text=True)
    code = session.get(Control, stale).code
    assert f"Control {code} " in html and "was changed by someone else since you read it: nothing was saved." in html
    # The page keeps the user's other change and shows the stale control as it is now.
    again = ControlsPage(html)
    assert again.fields[f"evidence:{other}"] == "my careful note"
    assert again.fields[f"status:{other}"] == "implemented"
    assert again.fields[f"status:{stale}"] == "not_applicable"
    assert again.fields[f"evidence:{stale}"] == "decommissioned"
    assert again.fields[f"version:{stale}"] == str(before[stale][4])
    assert "Changed by someone else meanwhile: shown as it is now." in html
    # Saved again from that page, the user's change goes through and the other's stays.
    saved = client.post(
        f"/assets/{graded.id}/controls",
        data={**again.fields, "csrf_token": csrf_token(client, f"/assets/{graded.id}")},
    )
    assert saved.status_code == 302
    after = _state(session, graded)
    assert after[other][:3] == ("implemented", "my careful note", "officer.a")
    assert after[stale] == before[stale]


def test_a_refused_form_names_the_control_and_saves_nothing(client, city, graded, session):
    login(client, city["officer_a"])
    page = ControlsPage(client.get(f"/assets/{graded.id}").get_data(as_text=True))
    before = _state(session, graded)
    good, bad = page.rows[0], page.rows[2]
    form = {**page.fields, f"status:{good}": "partial", f"evidence:{bad}": "x" * 4001}
    response = client.post(
        f"/assets/{graded.id}/controls",
        data={**form, "csrf_token": csrf_token(client, f"/assets/{graded.id}")},
        headers=EN,
    )
    assert response.status_code == 422
    assert _state(session, graded) == before
    html = response.get_data(as_text=True)
    assert "Nothing was saved: correct the controls marked below." in html
    row = re.search(
        r'<tr class="marked">\s*<th scope="row" class="point"><code>([^<]+)</code>.*?Too long\.', html, re.S
    )
    assert row and row.group(1) == session.get(Control, bad).code
    assert ControlsPage(html).fields[f"status:{good}"] == "partial", "the user's input is kept"


@pytest.mark.parametrize("role", ["leader", "auditor", "drill_team"])
def test_readers_see_the_grouped_view_without_a_form(client, city, graded, make_user, session, role):
    reader = city["leader"] if role == "leader" else make_user(f"{role}.x", roles=(role,), department="city")
    login(client, reader)
    html = client.get(f"/assets/{graded.id}", headers=EN).get_data(as_text=True)
    page = ControlsPage(html)
    # Asking for the asset's dossier (a report, /reports) changes no record.
    changing = [a for a in page.post_forms if a not in ("/language", "/logout", "/reports")]
    assert changing == [], "no form that changes anything"
    controls_part = html.split('action="/reports"', 1)[-1].split("</form>", 1)[-1] if role == "leader" else html
    assert page.fields == {} and "<select" not in controls_part  # the dossier's language choice aside
    counts, total = status_counts(html)
    assert sum(counts.values()) == total == len(_reads(session, graded))
    assert [o for _n, o in page.areas] == [True, True, True, False, True]
    # The statuses as text, the same rows as an officer sees.
    assert html.count('<span class="badge status-') >= total
    assert len(re.findall(r'<th scope="row" class="point">', html)) == total


def test_a_reviewer_without_a_date_shows_no_none(app, city, graded, session):
    """The demo once recorded reviewers without a date: the page said "officer, None"."""
    row = session.exec(select(AssetControl).where(AssetControl.asset_id == graded.id)).first()
    row.reviewer, row.reviewed_on = "officer", None
    session.add(row)
    session.commit()
    for user in (city["officer_a"], city["leader"]):
        client = app.test_client()
        login(client, user)
        for lang in ("en", "zh"):
            html = client.get(f"/assets/{graded.id}", headers={"Accept-Language": lang}).get_data(as_text=True)
            assert "None" not in html
            assert re.search(r'<td class="reviewed">officer</td>', html)


def test_the_demo_reviews_carry_their_date_and_its_pages_say_no_none(app, session):
    logins = {username: password for username, _roles, _dept, password in load_demo_city(app)}
    unstamped = session.exec(
        select(AssetControl).where(AssetControl.reviewer != "", AssetControl.reviewed_on.is_(None))
    ).all()
    assert unstamped == []
    signal = services.asset_by_code(session, "TRF-SIG-01")
    for username in ("officer.transport", "leader"):
        user = SimpleNamespace(username=username, totp_secret=None)
        client = app.test_client()
        assert login(client, user, logins[username]).status_code == 302
        for lang in ("en", "zh"):
            html = client.get(f"/assets/{signal.id}", headers={"Accept-Language": lang}).get_data(as_text=True)
            assert "None" not in html
        counts, total = status_counts(client.get(f"/assets/{signal.id}", headers=EN).get_data(as_text=True))
        assert sum(counts.values()) == total > 50


# --- the API ---------------------------------------------------------------------------------


def _call(client, token, method, path, **kwargs):
    return client.open(path, method=method, headers={"Authorization": f"Bearer {token}", **EN}, **kwargs)


def test_the_api_saves_several_controls_or_none(client, city, graded, session, api_token):
    token = api_token(city["officer_a"])
    path = f"/api/v1/assets/{graded.id}/controls"
    items = _call(client, token, "GET", path).json["items"]
    one, two, three = items[0], items[1], items[2]
    before, audited = _state(session, graded), len(_audited(session, graded.code))
    body = {
        "items": [
            {"control_id": one["control_id"], "status": "partial", "evidence": "e1", "version": one["version"]},
            {"control_id": two["control_id"], "status": two["status"], "evidence": two["evidence"], "version": 99},
            {"control_id": three["control_id"], "status": "planned", "version": three["version"]},
        ]
    }
    stale = _call(client, token, "PATCH", path, json=body)
    assert stale.status_code == 409
    assert two["code"] in stale.json["error"]["message"]
    assert one["code"] not in stale.json["error"]["message"]
    assert _state(session, graded) == before and len(_audited(session, graded.code)) == audited
    # Unknown and repeated controls: 422, nothing written.
    for wrong in (
        [{**body["items"][0], "control_id": "mlps.no.such"}],
        [body["items"][0], body["items"][0]],
    ):
        answer = _call(client, token, "PATCH", path, json={"items": wrong})
        assert answer.status_code == 422, answer.json
        assert _state(session, graded) == before
    assert _call(client, token, "PATCH", path, json={"items": []}).status_code == 422
    # The version read: the two changes recorded, the control sent back as it was left alone.
    body["items"][1]["version"] = two["version"]
    saved = _call(client, token, "PATCH", path, json=body)
    assert saved.status_code == 200, saved.json
    got = {i["control_id"]: i for i in saved.json["items"]}
    assert [i["control_id"] for i in saved.json["items"]] == [one["control_id"], two["control_id"], three["control_id"]]
    assert got[one["control_id"]]["version"] == one["version"] + 1 and got[one["control_id"]]["status"] == "partial"
    assert got[two["control_id"]] == two
    assert got[three["control_id"]]["evidence"] == "" and got[three["control_id"]]["reviewer"] == "officer.a"
    assert len(_audited(session, graded.code)) == audited + 2
    # Another department's asset is not found, and its controls stay as they were.
    kept = _state(session, graded)
    other = _call(client, api_token(city["officer_b"]), "PATCH", path, json=body)
    assert other.status_code == 404
    assert _state(session, graded) == kept and len(_audited(session, graded.code)) == audited + 2


@pytest.mark.nodb
def test_a_save_is_bounded():
    item = {"control_id": "mlps.general.PE.01", "status": "implemented", "version": 1}
    assert AssetControlsUpdate.model_validate({"items": [item]})
    with pytest.raises(ValueError):
        AssetControlsUpdate.model_validate({"items": [item] * (MAX_CONTROL_CHANGES + 1)})
    with pytest.raises(ValueError):
        AssetControlsUpdate.model_validate({"items": [{**item, "control_id": "x" * 41}]})


# --- fuzzing the form -------------------------------------------------------------------------


@settings(FUZZ_SETTINGS, max_examples=40)
@given(data=st.data())
def test_the_controls_form_answers_any_input_cleanly(client, city, graded, session, data):
    if not getattr(client, "_signed_in", False):
        login(client, city["officer_a"])
        client._signed_in = True
        client._token = csrf_token(client, f"/assets/{graded.id}")
        client._ids = list(_reads(session, graded))
    ids = st.one_of(st.sampled_from(client._ids), st.text(max_size=50))
    fields = data.draw(
        st.dictionaries(
            st.tuples(st.sampled_from(["status", "evidence", "version", "other"]), ids).map(":".join),
            form_values(*STATUSES, "1", "2", "x"),
            max_size=6,
        ),
        label="form",
    )
    query = data.draw(st.sampled_from(["", "?status=partial", "?status=%00", "?status=x&status=planned"]))
    response = client.post(f"/assets/{graded.id}/controls{query}", data={**fields, "csrf_token": client._token})
    assert_clean(response, f"POST controls {sorted(fields)[:5]}")
    assert response.status_code in (302, 400, 413, 422)


def _counted_from_rows(session) -> dict[int, dict[str, int]]:
    """Each asset's required controls by status, counted from the control rows themselves."""
    counted: dict[int, dict[str, int]] = {}
    for row in session.exec(select(AssetControl).where(AssetControl.required.is_(True))).all():
        by_status = counted.setdefault(row.asset_id, {})
        by_status[row.status] = by_status.get(row.status, 0) + 1
    return counted


def _kept(session) -> dict[int, dict[str, int]]:
    ids = session.exec(select(Asset.id)).all()
    kept = controls.coverage_by_asset(session, list(ids))
    return {
        asset_id: {status: cov.count(status) for status in controls.STATUSES if cov.count(status)}
        for asset_id, cov in kept.items()
        if cov.required
    }


def test_the_kept_coverage_counts_follow_every_change_of_the_controls(client, city, graded, session, api_token):
    """Coverage of departments and areas sums counts kept per asset and area (`recount`); after
    saves through the API, a change of level (controls added and no longer required) and a
    deletion, they equal the counts made from the control rows."""
    assert _kept(session) == _counted_from_rows(session)
    token = api_token(city["officer_a"])
    path = f"/api/v1/assets/{graded.id}/controls"
    items = _call(client, token, "GET", path).json["items"]
    body = {
        "items": [{"control_id": i["control_id"], "status": "implemented", "version": i["version"]} for i in items[:7]]
    }
    assert _call(client, token, "PATCH", path, json=body).status_code == 200
    session.expire_all()
    assert _kept(session) == _counted_from_rows(session)
    one = items[8]
    single = {"status": "not_applicable", "version": one["version"]}
    assert _call(client, token, "PATCH", f"{path}/{one['control_id']}", json=single).status_code == 200
    session.expire_all()
    assert _kept(session) == _counted_from_rows(session)
    for level in (4, 2):
        asset = _call(client, token, "GET", f"/api/v1/assets/{graded.id}").json
        change = {"mlps_level": level, "version": asset["version"], "reason": "regraded"}
        assert _call(client, token, "PATCH", f"/api/v1/assets/{graded.id}", json=change).status_code == 200, level
        session.expire_all()
        assert _kept(session) == _counted_from_rows(session)
    department = session.get(Asset, graded.id).department_id
    by_department = controls.coverage_by_department(session, [department])[department]
    counted = _counted_from_rows(session)[graded.id]
    assert by_department.implemented == counted.get("implemented", 0)
    assert by_department.required == sum(counted.values())
