"""Signed checkpoints of the audit chain, kept outside the database.

A checkpoint is the chain's head (seq and hash) at a moment, signed with an Ed25519 key that the
database never holds, appended as one JSON line to a log file. Whoever can write the database can
rewrite the chain consistently (edit an entry and recompute every later hash) or cut its tail, but
cannot sign: `verify_checkpoints` finds the chain no longer holding a signed head. It checks the
log with the public key alone, so a copy of the log and of the public key kept off the host
checks the host's database.

The private key is made on a fresh installation only (no key, no public key, no log yet): once
checkpoints exist, a missing or unreadable key is reported, never replaced by a new one, which
would sign a history the old checkpoints no longer vouch for. There is one key: no rotation yet.

An empty chain is checkpointed too (seq 0, the genesis hash), so that a scheduled run never fails
on a fresh installation; such a checkpoint only says that the chain was empty when it was signed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Engine
from sqlmodel import Session, select

from secgov import audit, config
from secgov.audit import GENESIS, Verification
from secgov.authz import Actor
from secgov.codes import N_, _translations, current_language
from secgov.db import new_session
from secgov.models import AuditEntry

FORMAT = 1
# A line of the log is about 300 characters; anything much longer is not one of ours.
MAX_LINE = 4096
_HASH = re.compile(r"[0-9a-f]{64}")
# How many checkpointed entries one query compares.
_BATCH = 500

# Why a checkpoint could not be signed: code -> a sentence for people (marked for translation).
PROBLEMS = {
    "key_missing": N_(
        "The checkpoint signing key is missing although checkpoints were signed with it: restore it from"
        " its copy (a new key is made only on a fresh installation)."
    ),
    "key_unreadable": N_("The checkpoint signing key cannot be read, or it is not an Ed25519 private key."),
    "key_unwritable": N_("The checkpoint signing key could not be created."),
    "public_key_mismatch": N_(
        "The checkpoint public key file does not belong to the signing key: restore the right one."
    ),
    "public_key_unwritable": N_("The checkpoint public key could not be written."),
    "log_unwritable": N_("The checkpoint log cannot be written."),
}


def checkpoint_problem(code: str, lang: str | None = None) -> str:
    """The sentence of a problem code, in lang (default: the current language)."""
    return _translations(lang or current_language()).gettext(PROBLEMS[code])


class CheckpointFailed(RuntimeError):
    """A checkpoint could not be signed or written; `problem` is a code of PROBLEMS."""

    def __init__(self, problem: str, path: Path | str | None = None) -> None:
        self.problem = problem
        self.path = str(path) if path is not None else ""
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The problem in English, with the file it concerns (for the command line and logs)."""
        text = PROBLEMS[self.problem]
        return f"{text} ({self.path})" if self.path else text


@dataclass(frozen=True)
class CheckpointFiles:
    """Where the signing key, its public key and the checkpoint log live."""

    key_path: Path
    public_key_path: Path
    log_path: Path

    @classmethod
    def from_mapping(cls, settings: Mapping, instance: Path | None = None) -> CheckpointFiles:
        """The files of an app's configuration; unset ones are in the instance folder."""
        folder = instance if instance is not None else config.INSTANCE
        return cls(
            key_path=Path(settings.get("SECGOV_CHECKPOINT_KEY") or folder / "checkpoint_key"),
            public_key_path=Path(settings.get("SECGOV_CHECKPOINT_PUBLIC_KEY") or folder / "checkpoint_key.pub"),
            log_path=Path(settings.get("SECGOV_CHECKPOINT_LOG") or folder / "audit-checkpoints.log"),
        )


@dataclass(frozen=True)
class Checkpoint:
    """One signed head of the chain, as one line of the log holds it."""

    seq: int
    hash: str
    signed_at: str
    key_id: str
    signature: str = ""  # base64 of the Ed25519 signature of `text()`

    def text(self) -> bytes:
        """What is signed: every field but the signature, one a line, in a fixed order."""
        return (
            f"secgov audit checkpoint v{FORMAT}\nseq {self.seq}\nhash {self.hash}\n"
            f"signed_at {self.signed_at}\nkey_id {self.key_id}\n"
        ).encode()

    def line(self) -> str:
        fields = {
            "v": FORMAT,
            "seq": self.seq,
            "hash": self.hash,
            "signed_at": self.signed_at,
            "key_id": self.key_id,
            "signature": self.signature,
        }
        return json.dumps(fields, sort_keys=True, separators=(",", ":")) + "\n"

    @classmethod
    def from_line(cls, raw: bytes) -> Checkpoint:
        """A checkpoint read back from a line; ValueError when the line is not one."""
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict) or data.get("v") != FORMAT:
            raise ValueError("not a checkpoint of this format")
        seq, digest = data.get("seq"), data.get("hash")
        texts = [data.get(name) for name in ("signed_at", "key_id", "signature")]
        if type(seq) is not int or seq < 0 or not isinstance(digest, str) or not _HASH.fullmatch(digest):
            raise ValueError("bad seq or hash")
        if not all(isinstance(t, str) and t and "\n" not in t for t in texts):
            raise ValueError("bad fields")
        return cls(seq, digest, *texts)


def key_id(public_key: Ed25519PublicKey) -> str:
    """The SHA-256 of the raw public key, in hex: names the key in every line it signed."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


# --- signing ---------------------------------------------------------------------------------


def write_checkpoint(engine: Engine, files: CheckpointFiles, actor: Actor) -> Checkpoint:
    """Sign the chain's head now, append it to the log, and record that in the audit log."""
    private_key = _signing_key(files)
    with new_session(engine, write=False) as session:
        current = audit.head(session) or (0, GENESIS)
    unsigned = Checkpoint(
        seq=current[0],
        hash=current[1],
        signed_at=datetime.now(UTC).isoformat(timespec="microseconds"),
        key_id=key_id(private_key.public_key()),
    )
    signature = base64.b64encode(private_key.sign(unsigned.text())).decode()
    checkpoint = Checkpoint(unsigned.seq, unsigned.hash, unsigned.signed_at, unsigned.key_id, signature)
    _append(files.log_path, checkpoint.line().encode())
    # The entry comes after the head it signed: the next checkpoint covers it.
    with new_session(engine, write=True) as session, session.begin():
        audit.record(
            session,
            actor,
            "audit.checkpoint",
            object_type="audit",
            object_id=checkpoint.seq,
            seq=checkpoint.seq,
            hash=checkpoint.hash,
            key_id=checkpoint.key_id,
        )
    return checkpoint


def _signing_key(files: CheckpointFiles) -> Ed25519PrivateKey:
    """The private key, made on a fresh installation only; its public key file written or checked."""
    if not files.key_path.exists():
        if files.log_path.exists() or files.public_key_path.exists():
            raise CheckpointFailed("key_missing", files.key_path)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        try:
            _place(files.key_path, pem, 0o600)
        except OSError as exc:
            raise CheckpointFailed("key_unwritable", files.key_path) from exc
    private_key = _read_private_key(files.key_path)
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    try:
        _place(files.public_key_path, public_pem, 0o644)
        placed = files.public_key_path.read_bytes()
    except OSError as exc:
        raise CheckpointFailed("public_key_unwritable", files.public_key_path) from exc
    if placed != public_pem:
        raise CheckpointFailed("public_key_mismatch", files.public_key_path)
    return private_key


def _read_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        config.tighten(path)
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise CheckpointFailed("key_missing", path) from exc
    except OSError as exc:
        raise CheckpointFailed("key_unreadable", path) from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise CheckpointFailed("key_unreadable", path) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointFailed("key_unreadable", path)
    return key


def _place(path: Path, data: bytes, mode: int) -> None:
    """Write path once, whole, with mode, unless it exists: written to a private temporary file
    and linked into place, so that of two processes making it together exactly one wins and
    nobody reads half of it (as `config.instance_file`)."""
    if path.exists():
        return
    config.private_folder(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # created 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process won the race: its file stands
    finally:
        os.unlink(tmp)


def _append(path: Path, line: bytes) -> None:
    """Append one line to the log, created 0600, and wait until it is on disk."""
    try:
        config.private_folder(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise CheckpointFailed("log_unwritable", path) from exc
    try:
        # A line torn by a crash would swallow this one: begin on a line of its own.
        if os.fstat(fd).st_size and _last_byte(path) != b"\n":
            line = b"\n" + line
        # One write of an O_APPEND file: concurrent writers' lines never interleave.
        if os.write(fd, line) != len(line):
            raise OSError("short write")
        os.fsync(fd)
    except OSError as exc:
        raise CheckpointFailed("log_unwritable", path) from exc
    finally:
        os.close(fd)


def _last_byte(path: Path) -> bytes:
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1)


# --- verification ----------------------------------------------------------------------------


@dataclass
class CheckpointVerification:
    """The chain's check (`chain`, failing also where it no longer holds a checkpointed head) and
    the log's (`problem`, a stable code, at `line`); `checked`: the checkpoints found good."""

    chain: Verification
    log_path: str
    public_key_path: str
    log_found: bool = False
    checked: int = 0
    problem: str = ""
    line: int | None = None
    checkpoints: list[Checkpoint] = field(default_factory=list, repr=False)

    REASONS = {
        "public_key_missing": "the log holds checkpoints but the public key {path} is missing",
        "public_key_unreadable": "the public key {path} cannot be read or is not an Ed25519 public key",
        "log_unreadable": "the checkpoint log cannot be read",
        "malformed": "line {line} is not a checkpoint",
        "unknown_key": "line {line} was signed by another key than {path}",
        "bad_signature": "line {line} does not match its signature",
    }

    @property
    def ok(self) -> bool:
        return self.chain.ok and not self.problem

    @property
    def reason(self) -> str:
        """The log's problem in English (the chain's is `chain.reason`)."""
        return self.REASONS[self.problem].format(line=self.line, path=self.public_key_path) if self.problem else ""


def verify_checkpoints(
    session: Session, files: CheckpointFiles, expected_head: tuple[int, str] | None = None
) -> CheckpointVerification:
    """Check the chain (`audit.verify`), every line of the log against the public key, and that
    the chain holds every checkpointed head: an entry at its seq with exactly its hash."""
    chain = audit.verify(session, expected_head)
    result = CheckpointVerification(chain, str(files.log_path), str(files.public_key_path))
    if not chain.ok:
        return result
    _read_log(files, result)
    if result.problem or not result.checkpoints:
        return result
    result.chain = _compare(session, chain, result.checkpoints)
    if result.chain.ok:
        result.checked = len(result.checkpoints)
    return result


def _read_log(files: CheckpointFiles, result: CheckpointVerification) -> None:
    """Fill result.checkpoints with the log's lines, each signature checked; or set a problem."""
    public_key: Ed25519PublicKey | None = None
    try:
        lines = list(_lines(files.log_path))
    except FileNotFoundError:
        return
    except OSError:
        result.log_found, result.problem = True, "log_unreadable"
        return
    result.log_found = True
    for number, raw in lines:
        if public_key is None:
            public_key, result.problem = _public_key(files.public_key_path)
            if public_key is None:
                return
            expected_id = key_id(public_key)
        try:
            checkpoint = Checkpoint.from_line(raw)
            signature = base64.b64decode(checkpoint.signature, validate=True)
        except ValueError:  # UnicodeDecodeError, JSONDecodeError and binascii.Error are ValueErrors
            result.problem, result.line = "malformed", number
            return
        if checkpoint.key_id != expected_id:
            result.problem, result.line = "unknown_key", number
            return
        try:
            public_key.verify(signature, checkpoint.text())
        except InvalidSignature:
            result.problem, result.line = "bad_signature", number
            return
        result.checkpoints.append(checkpoint)


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """The log's lines with their numbers; one far longer than a checkpoint is read no further."""
    with path.open("rb") as handle:
        number = 0
        while raw := handle.readline(MAX_LINE + 1):
            number += 1
            yield number, raw.rstrip(b"\n") if len(raw) <= MAX_LINE else b""
            if len(raw) > MAX_LINE:
                return


def _public_key(path: Path) -> tuple[Ed25519PublicKey | None, str]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, "public_key_missing"
    except OSError:
        return None, "public_key_unreadable"
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        return None, "public_key_unreadable"
    if not isinstance(key, Ed25519PublicKey):
        return None, "public_key_unreadable"
    return key, ""


def _compare(session: Session, chain: Verification, checkpoints: list[Checkpoint]) -> Verification:
    """The intact chain's verdict on the checkpoints, in the log's order: the first whose seq lies
    beyond the chain's end, else the first whose entry has another hash."""
    last = chain.head[0] if chain.head else 0
    for checkpoint in checkpoints:
        if checkpoint.seq > last:
            return Verification(False, chain.checked, checkpoint.seq, "ends_before_checkpoint", chain.head)
    wanted = sorted({c.seq for c in checkpoints if c.seq > 0})
    stored = {0: GENESIS}
    for start in range(0, len(wanted), _BATCH):
        batch = wanted[start : start + _BATCH]
        stored.update(session.exec(select(AuditEntry.seq, AuditEntry.hash).where(AuditEntry.seq.in_(batch))).all())
    for checkpoint in checkpoints:
        if stored.get(checkpoint.seq) != checkpoint.hash:
            return Verification(False, chain.checked, checkpoint.seq, "checkpoint_mismatch", chain.head)
    return chain
