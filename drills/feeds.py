"""Personal calendar feeds: each user may have one live iCalendar feed (the drills they lead or
take part in, and the due dates of their corrective actions) at a URL holding its own token. The
token is shown once, stored as its SHA-256, and revoked by the user (or replaced by a new one);
a revoked or unknown token answers 404, and a disabled user's feed too."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

from flask_babel import gettext as _
from sqlmodel import Session, select

from drills.models import CalendarFeed
from secgov import audit
from secgov.authz import Actor
from secgov.errors import NotFound
from secgov.models import User

PREFIX = "sgcal_"
# The feed's last use is written at most this often (a calendar program polls every few minutes).
TOUCH_SECONDS = 3600


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def live(session: Session, user: User) -> CalendarFeed | None:
    """The user's live feed, if any."""
    return session.exec(
        select(CalendarFeed).where(CalendarFeed.user_id == user.id, CalendarFeed.revoked_at.is_(None))
    ).first()


def create(session: Session, actor: Actor, user: User) -> tuple[CalendarFeed, str]:
    """A new feed for the user (the old one, if any, revoked) and its token, shown once."""
    now = datetime.now(UTC).replace(microsecond=0)
    for old in session.exec(
        select(CalendarFeed).where(CalendarFeed.user_id == user.id, CalendarFeed.revoked_at.is_(None))
    ).all():
        old.revoked_at = now
        session.add(old)
    token = PREFIX + secrets.token_urlsafe(32)
    row = CalendarFeed(user_id=user.id, prefix=token[:12], token_hash=_digest(token), created_at=now)
    session.add(row)
    session.flush()
    audit.record(
        session, actor, "calendar_feed.created", object_type="user", object_id=user.username,
        department_id=user.department_id, prefix=row.prefix,
    )  # fmt: skip
    return row, token


def revoke(session: Session, actor: Actor, user: User) -> bool:
    """Revoke the user's live feed; False when there was none."""
    row = live(session, user)
    if row is None:
        return False
    row.revoked_at = datetime.now(UTC).replace(microsecond=0)
    session.add(row)
    session.flush()
    audit.record(
        session, actor, "calendar_feed.revoked", object_type="user", object_id=user.username,
        department_id=user.department_id, prefix=row.prefix,
    )  # fmt: skip
    return True


def owner(session: Session, token: str) -> User:
    """The user whose live feed this token opens; NotFound otherwise (revoked, unknown, malformed,
    or a disabled user)."""
    if not token.startswith(PREFIX) or len(token) > 100:
        raise NotFound(_("Not found."))
    row = session.exec(
        select(CalendarFeed).where(CalendarFeed.token_hash == _digest(token), CalendarFeed.revoked_at.is_(None))
    ).first()
    user = session.get(User, row.user_id) if row else None
    if row is None or user is None or user.disabled:
        raise NotFound(_("Not found."))
    now = datetime.now(UTC)
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > TOUCH_SECONDS:
        row.last_used_at = now.replace(microsecond=0)
        session.add(row)
        session.flush()
    return user
