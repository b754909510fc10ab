"""What one import may cost, and what it may not do to everyone else: a file is parsed and checked
before any write transaction opens, the rows are written in short transactions (sign-ins and other
writers go on meanwhile), what a file may expand to is bounded, and so are its report and its time.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
import tracemalloc
import zipfile

import openpyxl
import pytest
from audit_support import ROOT, cli_env, run_cli
from factories import config_of
from helpers import PASSWORD, login
from sqlmodel import func, select

from assets.exchange import ASSETS
from assets.models import Asset
from secgov import exchange
from secgov.authz import Actor
from secgov.config import ServiceConfig
from secgov.models import AuditEntry

HEADER = ["code", "name", "sector", "department", "owner", "mlps_level"]


def csv_bytes(rows, header=HEADER) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


@pytest.fixture
def people(city, make_user):
    """The shared city, with the officer who owns the imported systems of bureau a."""
    return {"owner": make_user("zhang.wei", roles=("officer",), department="a"), "visitor": city["leader"]}


def import_now(app, data: bytes, filename: str = "assets.csv", config: ServiceConfig | None = None):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        engine = app.extensions["secgov_engine"]
        return exchange.import_file(engine, ASSETS, data, filename, Actor.system(), config or config_of(app))


def test_sign_in_and_cli_writes_go_on_during_the_largest_accepted_import(
    people, client, session, database_url, tmp_path
):
    """The largest file the configuration accepts (here 6,000 graded systems: some 450,000 control
    rows) is imported by `python -m secgov import` while a user signs in and a command creates a
    user: neither waits for the import, which writes in short transactions and never holds the
    write lock while it parses and checks the file."""
    rows = 6000
    path = tmp_path / "big.csv"
    path.write_bytes(
        csv_bytes([[f"BIG-{i:05d}", f"System {i}", "transport", "a", "zhang.wei", "3"] for i in range(rows)])
    )
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update({k: v for k, v in cli_env(database_url).items() if v is not None})
    env["SECGOV_IMPORT_MAX_ROWS"] = str(rows)
    command = [sys.executable, "-m", "secgov", "import", "assets", str(path)]
    # As a context manager, the process's pipes are closed whatever happens below.
    with subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as importer:
        time.sleep(2)  # the import is reading and checking the file, or writing its first batches
        assert importer.poll() is None, "the import ended before the sign-in began: make the file larger"
        response = login(client, people["visitor"], PASSWORD)
        result = run_cli(database_url, "user", "create", "new.hire", "--role", "auditor", "--password-stdin",
                         input="a long enough passphrase\n")  # fmt: skip
        out, err = importer.communicate(timeout=600)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert result.exit_code == 0, result.stderr
    assert importer.returncode == 0, err
    assert out == f"imported {rows} assets from {path} ({rows} rows)\n"
    session.rollback()
    assert session.exec(select(func.count()).select_from(Asset)).one() == rows
    # Both were written before the import's last batch, between its batches or before its first
    # (the audit log's order shows it; no clock: the machine may be busy): neither waited for the
    # import to end.
    first, last = session.exec(
        select(func.min(AuditEntry.seq), func.max(AuditEntry.seq)).where(AuditEntry.action == "asset.created")
    ).one()
    login_seq = session.exec(select(AuditEntry.seq).where(AuditEntry.action == "auth.login")).one()
    hired_seq = session.exec(
        select(AuditEntry.seq).where(AuditEntry.action == "user.created", AuditEntry.object_id == "new.hire")
    ).one()
    assert login_seq < last and hired_seq < last, (first, login_seq, hired_seq, last)


def test_a_file_one_row_above_the_limit_is_refused(app, people, session):
    app.config["SECGOV_IMPORT_MAX_ROWS"] = 3
    report = import_now(app, csv_bytes([[f"R-{i}", "S", "transport", "a", "zhang.wei", ""] for i in range(4)]))
    assert [e.message for e in report.errors] == ["The file has more than 3 data rows."]
    assert session.exec(select(func.count()).select_from(Asset)).one() == 0


def shared_strings_bomb(strings: int) -> bytes:
    """A small XLSX file whose shared-string table holds `strings` entries (written in a stream)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>',
        )
        archive.writestr(
            "xl/workbook.xml",
            '<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"/>',
        )
        with archive.open("xl/sharedStrings.xml", "w") as stream:
            stream.write(
                b'<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            )
            for start in range(0, strings, 100_000):
                stream.write(b"<si><t>a</t></si>" * min(100_000, strings - start))
            stream.write(b"</sst>")
    return buffer.getvalue()  # fmt: skip


def test_a_shared_strings_bomb_is_refused_with_little_memory(app, people, session):
    """A 10,000,000-entry shared-string table (well under a megabyte compressed) made one worker
    spend 2 GB and three minutes: it is now counted as a stream and refused at the limit."""
    data = shared_strings_bomb(10_000_000)
    assert len(data) < 1024 * 1024
    tracemalloc.start()
    try:
        report = import_now(app, data, "bomb.xlsx")
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.errors == [exchange.RowError(0, "", "This XLSX file holds more than 1000000 different texts.")]
    assert peak < 64 * 1024 * 1024, peak  # counted as a stream, not loaded (no clock: the machine may be busy)
    assert session.exec(select(func.count()).select_from(Asset)).one() == 0


def test_a_header_of_200000_unknown_columns_gets_a_short_report(app, people, client, api_token, session):
    """Such a header once answered 289 MB of JSON after 44 s: it is refused before it is split."""
    data = ",".join(f"colour{i}" for i in range(200_000)).encode() + b"\r\nx\r\n"
    report = import_now(app, data)
    assert report.problems == 1 and len(report.errors) == 1
    assert report.errors[0].row == 1 and "200000 columns" in report.errors[0].message
    headers = {"Authorization": f"Bearer {api_token(people['owner'])}", "Accept-Language": "en"}
    # The multipart body, built in memory (the test client would spool one this large to a
    # temporary file that it does not close).
    boundary = "secgov-test-boundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n".encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    content_type = f"multipart/form-data; boundary={boundary}"
    response = client.post("/api/v1/assets/import", data=body, content_type=content_type, headers=headers)
    assert response.status_code == 422 and len(response.data) < 2000
    assert response.json["error"]["details"][0]["row"] == 1


def test_the_report_keeps_the_first_problems_and_counts_all(app, people):
    rows = [[f"BAD-{i}", "S", "space", "a", "zhang.wei", ""] for i in range(1000)]
    report = import_now(app, csv_bytes(rows))
    assert report.problems == 1000 and report.rejected_rows == 1000
    assert len(report.errors) == ServiceConfig.import_report_problems == 200
    assert report.errors[0] == exchange.RowError(2, "sector", "Unknown sector: space")
    assert report.more == 800
    assert len(json.dumps(report.as_dict())) < 40_000


@pytest.mark.parametrize(
    ("limit", "message"),
    [
        ({"SECGOV_IMPORT_MAX_CELLS": 20}, "The file has more than 20 cells."),
        ({"SECGOV_IMPORT_MAX_CHARACTERS": 100}, "The file holds more than 100 characters."),
        ({"SECGOV_IMPORT_MAX_COLUMNS": 3}, "The first row names 6 columns; a register file has at most 3."),
    ],
)
def test_what_a_file_may_expand_to_follows_the_configuration(app, people, session, limit, message):
    app.config.update(limit)
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    for i in range(10):
        sheet.append([f"X-{i}", f"System number {i}", "transport", "a", "zhang.wei", 2])
    out = io.BytesIO()
    workbook.save(out)
    report = import_now(app, out.getvalue(), "limits.xlsx")
    assert [e.message for e in report.errors] == [message]
    assert session.exec(select(func.count()).select_from(Asset)).one() == 0


def test_an_import_that_takes_too_long_is_stopped_and_leaves_nothing(app, people, session):
    app.config["SECGOV_IMPORT_MAX_SECONDS"] = 0
    report = import_now(app, csv_bytes([["T-1", "S", "transport", "a", "zhang.wei", "2"]]))
    assert not report.written
    assert report.errors[0].message.startswith("The import took longer than 0 seconds and was stopped")
    assert session.exec(select(func.count()).select_from(Asset)).one() == 0


def test_the_shared_string_limit_follows_the_configuration(app, people):
    app.config["SECGOV_IMPORT_MAX_STRINGS"] = 5
    report = import_now(app, shared_strings_bomb(6), "six.xlsx")
    assert [e.message for e in report.errors] == ["This XLSX file holds more than 5 different texts."]
