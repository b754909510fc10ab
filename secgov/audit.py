"""The append-only, hash-chained audit log: recording and verification."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import groupby
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Engine, func, text
from sqlmodel import Session, select

from secgov import localtime
from secgov.authz import Actor, in_scope
from secgov.config import ServiceConfig
from secgov.db import new_session
from secgov.errors import Refusal, ServiceError
from secgov.models import AuditEntry

log = logging.getLogger("secgov.audit")

GENESIS = "0" * 64
_PG_LOCK_KEY = 0x5EC60A


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value)
    return str(value)


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default)


CHAINED_FIELDS = (
    "seq",
    "created_at",
    "actor",
    "actor_id",
    "channel",
    "ip",
    "action",
    "object_type",
    "object_id",
    "department_id",
    "detail",
)


def entry_hash(entry: AuditEntry, prev_hash: str) -> str:
    """SHA-256 of the previous hash and this entry's canonical content."""
    content = _dumps({name: getattr(entry, name) for name in CHAINED_FIELDS})
    return hashlib.sha256(f"{prev_hash}\n{content}".encode()).hexdigest()


def _lock_writers(session: Session) -> None:
    # SQLite writers already hold the database's write lock (BEGIN IMMEDIATE);
    # PostgreSQL writers queue on an advisory lock held until commit.
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})


@dataclass
class Event:
    """One event to append: what happened to which object, with its details."""

    action: str
    object_type: str = ""
    object_id: Any = ""
    department_id: int | None = None
    before: dict | None = None
    after: dict | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def record(
    session: Session,
    actor: Actor,
    action: str,
    *,
    object_type: str = "",
    object_id: Any = "",
    department_id: int | None = None,
    before: dict | None = None,
    after: dict | None = None,
    **extra: Any,
) -> AuditEntry:
    """Append one event to the chain, in the caller's transaction."""
    event = Event(action, object_type, object_id, department_id, before, after, extra)
    return record_many(session, actor, [event])[0]


def record_many(session: Session, actor: Actor, events: list[Event]) -> list[AuditEntry]:
    """Append events to the chain in order, in the caller's transaction: one lock, one look at
    the chain's head and one flush for the lot (an import appends thousands)."""
    if not events:
        return []
    _lock_writers(session)
    last = session.exec(select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)).first()
    seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS)
    entries = []
    for event in events:
        detail: dict[str, Any] = dict(event.extra)
        if event.before is not None:
            detail["before"] = event.before
        if event.after is not None:
            detail["after"] = event.after
        entry = AuditEntry(
            seq=seq,
            created_at=datetime.now(UTC).isoformat(timespec="microseconds"),
            actor=actor.username,
            actor_id=actor.user_id,
            channel=actor.channel,
            ip=actor.ip,
            action=event.action,
            object_type=event.object_type,
            object_id="" if event.object_id is None else str(event.object_id),
            department_id=event.department_id if event.department_id is not None else actor.department_id,
            detail=_dumps(detail),
            prev_hash=prev_hash,
            hash="",
        )
        entry.hash = entry_hash(entry, prev_hash)
        entries.append(entry)
        seq, prev_hash = seq + 1, entry.hash
    session.add_all(entries)
    session.flush()
    first, final = entries[0], entries[-1]
    if first is final:
        log.info("audit seq=%s action=%s head=%s", final.seq, final.action, final.hash)
    else:
        log.info(
            "audit seq=%s..%s (%d entries, last %s) head=%s",
            first.seq,
            final.seq,
            len(entries),
            final.action,
            final.hash,
        )
    return entries


def record_aside(bind: Engine, actor: Actor, events: list[Event]) -> None:
    """Append events in a transaction of their own, committed at once: for what must be kept
    whatever happens to the caller's work (refusals, exports, which are reads)."""
    with new_session(bind, write=True) as side, side.begin():
        record_many(side, actor, events)


def settle(session: Session, error: ServiceError) -> None:
    """After a refused operation: roll back the session's work, then record the refusal the error
    carries (a wrong password, an out-of-scope id...) in a transaction of its own, so that the
    record outlives the rollback. The frames call this; services only raise."""
    session.rollback()  # on SQLite this also releases the write lock the side transaction needs
    if error.refusal is not None:
        record_refusals(session.get_bind(), [error.refusal])


def record_refusals(bind: Engine, refusals: Sequence[Refusal]) -> None:
    """Record refusals (each of its own actor) in a transaction of their own; the caller holds no
    write transaction (on SQLite the side transaction needs the write lock)."""
    if not refusals:
        return
    with new_session(bind, write=True) as side, side.begin():
        record_refused(side, refusals)


def record_refused(session: Session, refusals: Sequence[Refusal]) -> None:
    """Append refusals, each of its own actor, in the caller's transaction (an import's refusals,
    of one actor, in one append)."""
    for actor, run in groupby(refusals, key=lambda refusal: refusal.actor):
        events = [Event(r.action, r.object_type, r.object_id, extra=dict(r.detail)) for r in run]
        record_many(session, actor, events)


def head(session: Session) -> tuple[int, str] | None:
    """The newest entry's (seq, hash): record it elsewhere to detect a truncated tail."""
    row = session.exec(select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)).first()
    return (row[0], row[1]) if row else None


@dataclass
class Verification:
    """The outcome of a chain check; `problem` is a stable code, `reason` its English wording."""

    ok: bool
    checked: int
    bad_seq: int | None = None
    problem: str = ""
    head: tuple[int, str] | None = None

    REASONS = {
        "missing": "entry {seq} is missing",
        "broken_link": "link to the previous entry is broken",
        "hash_mismatch": "content does not match its hash",
        "ends_before_head": "the chain ends before the recorded head {seq}",
        "head_mismatch": "the recorded head does not match",
        # Against the signed checkpoints (secgov.checkpoints).
        "ends_before_checkpoint": "the chain ends before checkpoint seq {seq}",
        "checkpoint_mismatch": "the entry does not match its signed checkpoint",
    }

    @property
    def reason(self) -> str:
        return self.REASONS[self.problem].format(seq=self.bad_seq) if self.problem else ""


def verify(session: Session, expected_head: tuple[int, str] | None = None, batch: int = 2000) -> Verification:
    """Walk the chain in order; name the first entry that breaks it."""
    prev_hash, expected_seq, checked = GENESIS, 1, 0
    last: tuple[int, str] | None = None
    after = 0
    while True:
        rows = session.exec(
            select(AuditEntry).where(AuditEntry.seq > after).order_by(AuditEntry.seq).limit(batch)
        ).all()
        if not rows:
            break
        for entry in rows:
            if entry.seq != expected_seq:
                return Verification(False, checked, expected_seq, "missing", last)
            if entry.prev_hash != prev_hash:
                return Verification(False, checked, entry.seq, "broken_link", last)
            if entry_hash(entry, prev_hash) != entry.hash:
                return Verification(False, checked, entry.seq, "hash_mismatch", last)
            prev_hash, expected_seq, checked = entry.hash, expected_seq + 1, checked + 1
            last = (entry.seq, entry.hash)
        after = rows[-1].seq
        session.expunge_all()
    if expected_head is not None:
        seq, digest = expected_head
        if last is None or last[0] < seq:
            return Verification(False, checked, seq, "ends_before_head", last)
        row = session.get(AuditEntry, seq)
        if row is None or row.hash != digest:
            return Verification(False, checked, seq, "head_mismatch", last)
    return Verification(True, checked, head=last)


def count(session: Session) -> int:
    return session.exec(select(func.count()).select_from(AuditEntry)).one()


# --- reading -------------------------------------------------------------------------------


class AuditFilter(BaseModel):
    """Filters of the audit page and API."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    actor: str | None = Field(default=None, max_length=64)
    action: str | None = Field(default=None, max_length=64, description="An action or its prefix, e.g. auth.")
    since: date | None = Field(default=None, description="From this day on (the city's time zone).")
    until: date | None = Field(default=None, description="Up to the end of this day (the city's time zone).")

    @classmethod
    def from_args(cls, args) -> AuditFilter:
        """Read the query string leniently (web page): an unreadable field is dropped."""
        data = {k: args.get(k) for k in ("actor", "action", "since", "until") if args.get(k)}
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            bad = {str(e["loc"][0]) for e in exc.errors()}
            return cls.model_validate({k: v for k, v in data.items() if k not in bad})


def list_entries(
    session: Session,
    actor: Actor,
    filters: AuditFilter,
    config: ServiceConfig,
    *,
    page: int = 1,
    page_size: int = 50,
    exact_action: bool = False,
) -> tuple[list[AuditEntry], int]:
    """Entries in the actor's scope; events without a department are the whole city's only.

    The action filter is a prefix (`auth.` is every sign-in event), or the action itself with
    `exact_action` (the page's list of actions: `auth.login` without `auth.login_failed`). The
    days are the city's (`config.timezone`), as the pages show the times."""
    where = [in_scope(AuditEntry.department_id, actor)]
    if filters.actor:
        where.append(AuditEntry.actor == filters.actor)
    if filters.action:
        where.append(
            AuditEntry.action == filters.action
            if exact_action
            else AuditEntry.action.startswith(filters.action, autoescape=True)
        )
    if filters.since and (start := _day_start(filters.since, config)) is not None:
        where.append(AuditEntry.created_at >= start)
    if filters.until and filters.until < date.max and (end := _day_start(filters.until + timedelta(days=1), config)):
        where.append(AuditEntry.created_at < end)
    total = session.exec(select(func.count()).select_from(AuditEntry).where(*where)).one()
    rows = session.exec(
        select(AuditEntry).where(*where).order_by(AuditEntry.seq.desc()).offset((page - 1) * page_size).limit(page_size)
    ).all()
    return list(rows), total


def _day_start(day: date, config: ServiceConfig) -> str | None:
    """When a day of the city begins, written as `created_at` is (so that the texts compare as
    the moments do, the same characters in the same places whatever the database's collation);
    None for a day at the end of the calendar, which bounds nothing."""
    try:
        return localtime.day_start(day, config.timezone).isoformat(timespec="microseconds")
    except OverflowError:
        return None
