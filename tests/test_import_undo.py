"""All or nothing, in short transactions: when an import is refused after some of its batches
were committed, those batches are undone batch by batch, the refused batch is rolled back, an
unexpected error undoes them too, a record that may no longer go is kept and reported, and the
refusals the audit trail must keep are recorded."""

from __future__ import annotations

import csv
import dataclasses
import io
import json

import pytest
from factories import config_of
from sqlmodel import func, select

from assets import services
from assets.exchange import ASSETS, VENDORS
from assets.models import Asset, Vendor
from secgov import exchange
from secgov.authz import Actor
from secgov.errors import Conflict, Invalid, Refusal
from secgov.exchange import importing
from secgov.models import AuditEntry, Responsibility

HEADER = ["code", "name", "sector", "department", "owner", "mlps_level"]
BATCH = 5


@pytest.fixture(autouse=True)
def small_batches(monkeypatch):
    monkeypatch.setattr(importing, "BATCH", BATCH)


@pytest.fixture
def owner(city, make_user):
    return make_user("zhang.wei", roles=("officer",), department="a")


def asset_rows(n: int) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows([f"U-{i:03d}", f"System {i}", "transport", "a", "zhang.wei", "2"] for i in range(n))
    return out.getvalue().encode()


def run(app, register, data: bytes, *, partial: bool = False):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        engine = app.extensions["secgov_engine"]
        return exchange.import_file(engine, register, data, "u.csv", Actor.system(), config_of(app), partial=partial)


def refusing(register, code: str, error: Exception | None = None):
    """The register, its create refusing (or failing on) the item with this code."""

    def create(session, items, actor, config):
        if any(item.code == code for item in items):
            raise error or Invalid(f"{code} refused by the test", field="code")
        return register.create(session, items, actor, config)

    return dataclasses.replace(register, create=create)


def counting_undo(register, calls: list[int]):
    """The register, its undo recording how many ids each call removes."""

    def undo(session, ids, actor):
        calls.append(len(ids))
        register.undo(session, ids, actor)

    return dataclasses.replace(register, undo=undo)


def actions(session, prefix: str) -> list[AuditEntry]:
    session.rollback()  # a new snapshot: the import wrote in transactions of its own
    return list(session.exec(select(AuditEntry).where(AuditEntry.action.startswith(prefix))).all())


def count(session, model) -> int:
    session.rollback()  # a new snapshot: the import wrote in transactions of its own
    return session.exec(select(func.count()).select_from(model)).one()


def test_a_row_refused_in_a_later_batch_undoes_the_committed_batches_batch_by_batch(app, owner, session):
    calls: list[int] = []
    register = counting_undo(refusing(ASSETS, "U-012"), calls)  # row 14, in the third batch
    report = run(app, register, asset_rows(17))
    assert report.created == 0 and not report.written
    assert [(e.row, e.column, e.message) for e in report.errors] == [(14, "code", "U-012 refused by the test")]
    assert calls == [BATCH, BATCH]  # the two committed batches, one unit each; the third rolled back
    assert count(session, Asset) == 0
    assert count(session, Responsibility) == 0
    [undone] = actions(session, "assets.import_undone")
    assert json.loads(undone.detail) == {"removed": 10, "kept": 0}
    assert len(actions(session, "asset.deleted")) == 10  # the rows of the rolled-back batch never existed
    assert len(actions(session, "asset.created")) == 10
    assert actions(session, "assets.imported") == []


def test_a_partial_import_keeps_the_other_rows_of_the_refused_batch(app, owner, session):
    report = run(app, refusing(ASSETS, "U-007"), asset_rows(12), partial=True)
    assert report.created == 11 and report.rejected_rows == 1
    assert count(session, Asset) == 11
    assert actions(session, "assets.import_undone") == []
    [imported] = actions(session, "assets.imported")
    assert json.loads(imported.detail)["created"] == 11


def test_an_unexpected_error_undoes_the_committed_batches_and_is_raised(app, owner, session):
    calls: list[int] = []
    register = counting_undo(refusing(ASSETS, "U-011", RuntimeError("the disk is full")), calls)
    with pytest.raises(RuntimeError, match="the disk is full"):
        run(app, register, asset_rows(15))
    assert calls == [BATCH, BATCH]
    assert count(session, Asset) == 0
    assert len(actions(session, "assets.import_undone")) == 1


def test_a_record_that_may_no_longer_go_is_kept_and_reported(app, owner, session):
    """A vendor engaged between its import and the undoing cannot be removed: it stays, the
    other vendors go, and the report and the audit trail say how many were kept."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["name", "origin", "country"])
    writer.writerows([f"Vendor {i}", "domestic", "CN"] for i in range(8))
    writer.writerow(["Refused vendor", "domestic", "CN"])
    calls: list[int] = []

    def undo(session, ids, actor):
        names = set(session.exec(select(Vendor.name).where(Vendor.id.in_(ids))).all())
        if "Vendor 1" in names:
            raise Conflict("engaged meanwhile")
        calls.append(len(ids))
        VENDORS.undo(session, ids, actor)

    before = count(session, Vendor)
    vendors = dataclasses.replace(VENDORS, create=_refusing_name(VENDORS, "Refused vendor"), undo=undo)
    report = run(app, vendors, out.getvalue().encode())
    assert report.created == 1
    assert [(e.row, e.message) for e in report.errors] == [
        (0, "1 record this import wrote was changed meanwhile and was kept: check it and remove it by hand."),
        (10, "refused by the test"),
    ]
    assert count(session, Vendor) == before + 1
    assert session.exec(select(Vendor).where(Vendor.name == "Vendor 1")).one()
    [undone] = actions(session, "vendors.import_undone")
    assert json.loads(undone.detail) == {"removed": 4, "kept": 1}
    assert calls == [1, 1, 1, 1]  # the first batch refused as a whole, then one by one


def _refusing_name(register, name: str):
    def create(session, items, actor, config):
        if any(item.name == name for item in items):
            raise Invalid("refused by the test", field="name")
        return register.create(session, items, actor, config)

    return create


def test_deleting_an_asset_forgets_its_owners(app, owner, session, make_asset):
    """A later asset given the same id (SQLite reuses the highest one) must not inherit them."""
    asset = make_asset("GONE-1", "a", "transport", owner="zhang.wei")
    asset_id = asset.id
    assert count(session, Responsibility) >= 1
    with app.test_request_context():
        services.delete_asset(session, session.get(Asset, asset_id), Actor.system())
        session.commit()
    session.rollback()  # a new snapshot: the import wrote in transactions of its own
    left = session.exec(
        select(Responsibility).where(Responsibility.subject_type == "asset", Responsibility.subject_id == asset_id)
    ).all()
    assert left == []


def test_a_value_repeated_in_many_rows_names_only_a_few_of_them(app, owner):
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(["SAME", f"System {i}", "transport", "a", "zhang.wei", "2"] for i in range(12))
    report = run(app, ASSETS, out.getvalue().encode())
    assert report.rejected_rows == 12
    assert report.errors[0].message == "SAME is also in rows 3, 4, 5, 6, 7 and 6 more rows of this file."
    assert report.errors[-1].message == "SAME is also in rows 2, 3, 4, 5, 6 and 6 more rows of this file."
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(["TWICE", f"System {i}", "transport", "a", "zhang.wei", "2"] for i in range(2))
    report = run(app, ASSETS, out.getvalue().encode())
    assert report.errors[0].message == "TWICE is also in row 3 of this file."


def test_what_the_rules_refuse_with_a_refusal_is_audited_once(app, owner, session):
    """A refusal that the audit trail must keep (an out-of-scope id, say) is recorded when a row
    is refused by the checks or by the writes, once, although the refused work is not."""
    refusal = Refusal(Actor.system(), "test.refused", "asset", "U-001")

    def check(session, items, actor, config):
        found = ASSETS.check(session, items, actor, config)
        for index, item in enumerate(items):
            if item.code == "U-001":
                found.setdefault(index, []).append(Invalid("refused by the check", refusal=refusal))
        return found

    report = run(app, dataclasses.replace(ASSETS, check=check), asset_rows(3))
    assert [(e.row, e.message) for e in report.errors] == [(3, "refused by the check")]
    assert [e.object_id for e in actions(session, "test.refused")] == ["U-001"]

    written = Refusal(Actor.system(), "test.refused_on_write", "asset", "U-004")
    register = refusing(ASSETS, "U-004", Invalid("refused by the write", refusal=written))
    report = run(app, register, asset_rows(6), partial=True)
    assert report.created == 5
    assert [e.object_id for e in actions(session, "test.refused_on_write")] == ["U-004"]
