"""Signed audit checkpoints: the key is made on a fresh installation only, each checkpoint is one
signed line of a log outside the database, and `audit verify` finds a consistently rewritten or
truncated chain, and a forged line, against them."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from audit_support import run_cli, triggers_lifted
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from helpers import login
from sqlalchemy import text
from sqlmodel import select

from secgov import audit, checkpoints, config
from secgov.audit import GENESIS, entry_hash
from secgov.authz import Actor
from secgov.checkpoints import (
    PROBLEMS,
    CheckpointFailed,
    CheckpointFiles,
    checkpoint_problem,
    verify_checkpoints,
    write_checkpoint,
)
from secgov.db import new_session, write_session
from secgov.models import AuditEntry

CLI = Actor.system("cli")
EN = {"Accept-Language": "en"}


def engine_of(app):
    return app.extensions["secgov_engine"]


def fill(app, n: int) -> tuple[int, str] | None:
    """Append n events, one transaction each; return the head."""
    for i in range(n):
        with write_session(engine_of(app)) as s:
            audit.record(s, Actor(username=f"user{i}", channel="job"), "test.event", object_id=i)
    with new_session(engine_of(app), write=False) as s:
        return audit.head(s)


def check(app, files: CheckpointFiles) -> checkpoints.CheckpointVerification:
    with new_session(engine_of(app), write=False) as s:
        return verify_checkpoints(s, files)


def entries(app) -> list[AuditEntry]:
    with new_session(engine_of(app), write=False) as s:
        return list(s.exec(select(AuditEntry).order_by(AuditEntry.seq)).all())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def rewrite_from(conn, seq: int) -> None:
    """Edit entry seq and recompute every hash from it on: a chain consistent with itself."""
    table = AuditEntry.__table__
    conn.execute(table.update().where(table.c.seq == seq).values(actor="mallory"))
    prev = conn.execute(select(table.c.hash).where(table.c.seq == seq - 1)).scalar() or GENESIS
    for row in conn.execute(table.select().where(table.c.seq >= seq).order_by(table.c.seq)).mappings().all():
        forged = entry_hash(AuditEntry(**dict(row)), prev)
        conn.execute(table.update().where(table.c.seq == row["seq"]).values(prev_hash=prev, hash=forged))
        prev = forged


# --- configuration ---------------------------------------------------------------------------


@pytest.mark.nodb
def test_files_default_to_the_instance_folder(tmp_path):
    files = CheckpointFiles.from_mapping({"SECGOV_CHECKPOINT_LOG": None}, instance=tmp_path)
    assert files == CheckpointFiles(
        tmp_path / "checkpoint_key", tmp_path / "checkpoint_key.pub", tmp_path / "audit-checkpoints.log"
    )
    assert CheckpointFiles.from_mapping({}).key_path == config.INSTANCE / "checkpoint_key"


def test_the_app_reads_the_files_from_the_environment(app, checkpoint_files):
    assert CheckpointFiles.from_mapping(app.config) == checkpoint_files
    assert not str(checkpoint_files.key_path).startswith(str(config.INSTANCE))


# --- signing ---------------------------------------------------------------------------------


def test_fresh_installation_makes_a_private_key_and_signs_the_head(app, checkpoint_files):
    files = checkpoint_files
    head = fill(app, 3)
    signed = write_checkpoint(engine_of(app), files, CLI)

    assert (signed.seq, signed.hash) == head
    assert mode(files.key_path) == 0o600
    assert mode(files.key_path.parent) == 0o700
    assert mode(files.log_path) == 0o600
    # The key id is the SHA-256 of the raw public key, as the public key file holds it.
    public = serialization.load_pem_public_key(files.public_key_path.read_bytes())
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert signed.key_id == hashlib.sha256(raw).hexdigest()
    # One JSON line whose signature the public key alone accepts.
    lines = files.log_path.read_text().splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert (line["seq"], line["hash"], line["key_id"]) == (head[0], head[1], signed.key_id)
    public.verify(base64.b64decode(line["signature"]), signed.text())
    assert f"seq {head[0]}\nhash {head[1]}\n".encode() in signed.text()
    # The checkpoint itself is audited, after the head it signed.
    last = entries(app)[-1]
    assert (last.seq, last.action, last.object_type) == (head[0] + 1, "audit.checkpoint", "audit")
    assert json.loads(last.detail) == {"seq": head[0], "hash": head[1], "key_id": signed.key_id}

    result = check(app, files)
    assert result.ok, (result.chain.reason, result.reason)
    assert (result.log_found, result.checked) == (True, 1)


def test_later_checkpoints_use_the_same_key(app, checkpoint_files):
    fill(app, 2)
    first = write_checkpoint(engine_of(app), checkpoint_files, CLI)
    key = checkpoint_files.key_path.read_bytes()
    second = write_checkpoint(engine_of(app), checkpoint_files, CLI)
    assert checkpoint_files.key_path.read_bytes() == key
    assert first.key_id == second.key_id
    assert second.seq == first.seq + 1  # the first checkpoint's own entry
    assert check(app, checkpoint_files).checked == 2


def test_an_empty_chain_is_checkpointed_at_seq_0(app, checkpoint_files):
    signed = write_checkpoint(engine_of(app), checkpoint_files, CLI)
    assert (signed.seq, signed.hash) == (0, GENESIS)
    assert [e.action for e in entries(app)] == ["audit.checkpoint"]
    assert check(app, checkpoint_files).ok


def test_concurrent_first_checkpoints_share_one_key(app, checkpoint_files):
    fill(app, 1)
    with ThreadPoolExecutor(4) as pool:
        signed = list(pool.map(lambda _i: write_checkpoint(engine_of(app), checkpoint_files, CLI), range(4)))
    assert len({s.key_id for s in signed}) == 1
    assert len(checkpoint_files.log_path.read_text().splitlines()) == 4
    result = check(app, checkpoint_files)
    assert result.ok and result.checked == 4


def _nothing_written(app, files: CheckpointFiles, log: bytes | None, count: int) -> None:
    assert (files.log_path.read_bytes() if files.log_path.exists() else None) == log
    assert len(entries(app)) == count


def test_a_missing_key_is_not_replaced_once_checkpoints_exist(app, checkpoint_files, database_url):
    files = checkpoint_files
    fill(app, 2)
    write_checkpoint(engine_of(app), files, CLI)
    files.key_path.unlink()
    log, count = files.log_path.read_bytes(), len(entries(app))

    with pytest.raises(CheckpointFailed) as caught:
        write_checkpoint(engine_of(app), files, CLI)
    assert caught.value.problem == "key_missing"
    assert str(files.key_path) in caught.value.message
    assert not files.key_path.exists()
    _nothing_written(app, files, log, count)

    cli = run_cli(database_url, "audit", "checkpoint")
    assert cli.exit_code == 1
    assert cli.stderr.startswith("error: The checkpoint signing key is missing")
    _nothing_written(app, files, log, count)
    # The log still verifies with the public key alone.
    assert check(app, files).ok


def test_a_public_key_without_its_private_key_is_a_missing_key(app, checkpoint_files):
    checkpoint_files.public_key_path.parent.mkdir(mode=0o700)
    checkpoint_files.public_key_path.write_bytes(b"left over")
    with pytest.raises(CheckpointFailed) as caught:
        write_checkpoint(engine_of(app), checkpoint_files, CLI)
    assert caught.value.problem == "key_missing"
    assert not checkpoint_files.key_path.exists()
    _nothing_written(app, checkpoint_files, None, 0)


def _ec_key() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.mark.parametrize("content", [b"garbage, not a key\n", b"", _ec_key()], ids=["garbage", "empty", "ec-key"])
def test_an_unreadable_key_is_refused(app, checkpoint_files, database_url, content):
    files = checkpoint_files
    fill(app, 1)
    write_checkpoint(engine_of(app), files, CLI)
    files.key_path.write_bytes(content)
    log, count = files.log_path.read_bytes(), len(entries(app))

    with pytest.raises(CheckpointFailed) as caught:
        write_checkpoint(engine_of(app), files, CLI)
    assert caught.value.problem == "key_unreadable"
    _nothing_written(app, files, log, count)
    cli = run_cli(database_url, "audit", "checkpoint")
    assert cli.exit_code == 1
    assert "error: The checkpoint signing key cannot be read" in cli.stderr
    _nothing_written(app, files, log, count)


def test_a_public_key_of_another_key_is_refused(app, checkpoint_files):
    write_checkpoint(engine_of(app), checkpoint_files, CLI)
    other = Ed25519PrivateKey.generate().public_key()
    checkpoint_files.public_key_path.write_bytes(
        other.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    log, count = checkpoint_files.log_path.read_bytes(), len(entries(app))
    with pytest.raises(CheckpointFailed) as caught:
        write_checkpoint(engine_of(app), checkpoint_files, CLI)
    assert caught.value.problem == "public_key_mismatch"
    _nothing_written(app, checkpoint_files, log, count)


def test_an_unwritable_log_is_reported(app, checkpoint_files):
    write_checkpoint(engine_of(app), checkpoint_files, CLI)
    checkpoint_files.log_path.unlink()
    checkpoint_files.log_path.mkdir()  # a folder where the log should be
    with pytest.raises(CheckpointFailed) as caught:
        write_checkpoint(engine_of(app), checkpoint_files, CLI)
    assert caught.value.problem == "log_unwritable"
    assert len(entries(app)) == 1
    result = check(app, checkpoint_files)
    assert (result.ok, result.problem) == (False, "log_unreadable")


def test_a_torn_last_line_does_not_swallow_the_next(app, checkpoint_files):
    write_checkpoint(engine_of(app), checkpoint_files, CLI)
    with checkpoint_files.log_path.open("ab") as log:
        log.write(b'{"v":1,"seq":')  # a crash in the middle of a write
    write_checkpoint(engine_of(app), checkpoint_files, CLI)
    lines = checkpoint_files.log_path.read_bytes().splitlines()
    assert len(lines) == 3 and json.loads(lines[2])["seq"] == 1
    result = check(app, checkpoint_files)
    assert (result.ok, result.problem, result.line) == (False, "malformed", 2)


@pytest.mark.nodb
def test_every_problem_has_a_sentence_in_both_languages():
    for code, english in PROBLEMS.items():
        assert checkpoint_problem(code, "en") == english
        assert checkpoint_problem(code, "zh") != english, code
        assert CheckpointFailed(code).message == english
    assert CheckpointFailed("log_unwritable", "/x/log").message == f"{PROBLEMS['log_unwritable']} (/x/log)"


# --- verification ----------------------------------------------------------------------------


def test_verify_passes_and_counts_the_checkpoints(app, checkpoint_files, database_url):
    fill(app, 3)
    made = run_cli(database_url, "audit", "checkpoint")
    assert made.exit_code == 0, made.stderr
    line = json.loads(checkpoint_files.log_path.read_text())
    assert made.stdout == f"checkpoint signed: seq 3 hash {line['hash']} \u2192 {checkpoint_files.log_path}\n"
    assert run_cli(database_url, "audit", "checkpoint").exit_code == 0

    verified = run_cli(database_url, "audit", "verify")
    assert verified.exit_code == 0, verified.stderr
    assert verified.stdout.splitlines()[1] == f"signed checkpoints held: 2 in {checkpoint_files.log_path}"


def test_verify_without_a_log_still_checks_the_chain(app, checkpoint_files, database_url):
    head = fill(app, 2)
    verified = run_cli(database_url, "audit", "verify")
    assert verified.exit_code == 0
    assert verified.stdout.splitlines() == [
        f"audit chain intact: 2 entries head {head[0]}:{head[1]}",
        f"no signed checkpoints found in {checkpoint_files.log_path}",
    ]
    assert not checkpoint_files.log_path.exists()
    with triggers_lifted(engine_of(app)) as conn:
        conn.execute(text("UPDATE audit_entry SET actor = 'mallory' WHERE seq = 1"))
    assert run_cli(database_url, "audit", "verify").exit_code == 1


def test_a_consistently_rewritten_chain_fails_verify(app, checkpoint_files, database_url):
    fill(app, 6)
    signed = write_checkpoint(engine_of(app), checkpoint_files, CLI)
    fill(app, 2)
    with triggers_lifted(engine_of(app)) as conn:
        rewrite_from(conn, 3)

    with new_session(engine_of(app), write=False) as s:
        assert audit.verify(s).ok  # the chain alone looks intact...
    result = check(app, checkpoint_files)  # ...the signed head says otherwise
    assert not result.ok
    assert (result.chain.bad_seq, result.chain.problem) == (signed.seq, "checkpoint_mismatch")

    cli = run_cli(database_url, "audit", "verify")
    assert cli.exit_code == 1
    assert f"audit chain broken at entry {signed.seq}: the entry does not match its signed checkpoint" in cli.stderr
    assert cli.stdout == ""
    # The --head check is kept, and the checkpoints are checked with it.
    with new_session(engine_of(app), write=False) as s:
        current = audit.head(s)
    with_head = run_cli(database_url, "audit", "verify", "--head", f"{current[0]}:{current[1]}")
    assert with_head.exit_code == 1
    assert "does not match its signed checkpoint" in with_head.stderr


def test_a_truncated_tail_fails_verify(app, checkpoint_files, database_url):
    fill(app, 6)
    signed = write_checkpoint(engine_of(app), checkpoint_files, CLI)
    assert signed.seq == 6
    with triggers_lifted(engine_of(app)) as conn:
        conn.execute(text("DELETE FROM audit_entry WHERE seq > 4"))

    result = check(app, checkpoint_files)
    assert not result.ok
    assert result.chain.reason == "the chain ends before checkpoint seq 6"
    cli = run_cli(database_url, "audit", "verify")
    assert cli.exit_code == 1
    assert "audit chain broken at entry 6: the chain ends before checkpoint seq 6" in cli.stderr


def _forge(files: CheckpointFiles, number: int, **changes) -> None:
    lines = files.log_path.read_text().splitlines()
    line = json.loads(lines[number - 1])
    line.update(changes)
    lines[number - 1] = json.dumps(line)
    files.log_path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    "changes", [{"hash": "f" * 64}, {"seq": 1}, {"signed_at": "2020-01-01T00:00:00+00:00"}], ids=["hash", "seq", "time"]
)
def test_a_forged_line_fails_verify(app, checkpoint_files, database_url, changes):
    fill(app, 3)
    write_checkpoint(engine_of(app), checkpoint_files, CLI)
    write_checkpoint(engine_of(app), checkpoint_files, CLI)
    _forge(checkpoint_files, 2, **changes)

    result = check(app, checkpoint_files)
    assert result.chain.ok
    assert (result.ok, result.problem, result.line) == (False, "bad_signature", 2)
    cli = run_cli(database_url, "audit", "verify")
    assert cli.exit_code == 1
    assert f"checkpoint log {checkpoint_files.log_path}: line 2 does not match its signature" in cli.stderr


@pytest.mark.parametrize("garbage", [b"not json", b"[]", b'{"v":1}', b"", b"x" * 10_000], ids=str)
def test_a_line_that_is_no_checkpoint_fails_verify(app, checkpoint_files, garbage):
    write_checkpoint(engine_of(app), checkpoint_files, CLI)
    with checkpoint_files.log_path.open("ab") as log:
        log.write(garbage + b"\n")
    result = check(app, checkpoint_files)
    assert (result.ok, result.problem, result.line) == (False, "malformed", 2)
    assert result.reason == "line 2 is not a checkpoint"


def test_a_line_signed_by_another_key_fails_verify(app, checkpoint_files):
    write_checkpoint(engine_of(app), checkpoint_files, CLI)
    other = Ed25519PrivateKey.generate()
    forged = checkpoints.Checkpoint(
        1, entries(app)[0].hash, "2030-01-01T00:00:00+00:00", checkpoints.key_id(other.public_key())
    )
    signature = base64.b64encode(other.sign(forged.text())).decode()
    with checkpoint_files.log_path.open("a") as log:
        log.write(checkpoints.Checkpoint(forged.seq, forged.hash, forged.signed_at, forged.key_id, signature).line())
    result = check(app, checkpoint_files)
    assert (result.ok, result.problem, result.line) == (False, "unknown_key", 2)


def test_a_missing_public_key_fails_verify_when_the_log_holds_lines(app, checkpoint_files, database_url):
    write_checkpoint(engine_of(app), checkpoint_files, CLI)
    checkpoint_files.public_key_path.unlink()
    result = check(app, checkpoint_files)
    assert (result.ok, result.problem) == (False, "public_key_missing")
    cli = run_cli(database_url, "audit", "verify")
    assert cli.exit_code == 1
    assert "the log holds checkpoints but the public key" in cli.stderr
    # An empty log needs no public key.
    checkpoint_files.log_path.write_bytes(b"")
    assert check(app, checkpoint_files).ok


def test_the_verify_page_and_api_check_the_checkpoints(app, client, checkpoint_files, make_user, api_token):
    auditor = make_user("chain.auditor", roles=("auditor",))
    headers = {"Authorization": f"Bearer {api_token(auditor)}", "Accept-Language": "en"}
    fill(app, 5)
    signed = write_checkpoint(engine_of(app), checkpoint_files, CLI)
    good = client.get("/api/v1/audit/verify", headers=headers).get_json()
    assert good["ok"] and good["checkpoints_checked"] == 1 and good["checkpoint_problem"] == ""
    login(client, auditor)
    assert "1 signed checkpoint matches the chain." in client.get("/audit/verify", headers=EN).get_data(as_text=True)
    with triggers_lifted(engine_of(app)) as conn:
        conn.execute(text("DELETE FROM audit_entry WHERE seq > :seq"), {"seq": signed.seq - 2})
    bad = client.get("/api/v1/audit/verify", headers=headers).get_json()
    assert not bad["ok"] and bad["bad_seq"] == signed.seq
    assert f"ends before checkpoint seq {signed.seq}" in bad["reason"]
    page = client.get("/audit/verify", headers=EN).get_data(as_text=True)
    assert "which a signed checkpoint recorded: its tail was removed" in page
