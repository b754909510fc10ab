"""Calendars over the API: a drill as an iCalendar file, and the caller's personal feed (its
state; a new address, given once; revoking it). The feed itself is read at its own address
(`/calendar/feed/<token>.ics`), without a token in the Authorization header."""

from __future__ import annotations

from flask import Blueprint, request
from flask_babel import gettext as _

from drills import feeds, ics, services
from drills.models import CalendarFeed
from drills.schemas import FeedRead
from secgov.authz import authenticated, roles
from secgov.codes import current_language
from secgov.errors import NotFound
from secgov.rest import operation
from secgov.web import actor, get_session, require_user, service_config

bp = Blueprint("drill_calendar_api", __name__, url_prefix="/api/v1")


def _read(row: CalendarFeed, url: str = "") -> FeedRead:
    return FeedRead(prefix=row.prefix, created_at=row.created_at, last_used_at=row.last_used_at, url=url)


@bp.get("/drills/<int:drill_id>/calendar.ics")
@roles(*services.READERS)
@operation(answer="The drill as an iCalendar (RFC 5545) file, an attachment.", tags=["drills"])
def drill_calendar_get(drill_id: int):
    """One drill in the caller's scope as an iCalendar file (its texts in the caller's language)."""
    db = get_session()
    drill = services.get(db, actor(), drill_id)
    data = ics.drill_calendar(db, drill, service_config(), base_url=request.url_root, lang=current_language())
    return ics.response(data, ics.filename(drill.id, drill.title))


@bp.get("/calendar-feed")
@authenticated
@operation(ok=FeedRead, tags=["drills"])
def calendar_feed_get():
    """The caller's live calendar feed (not its address: that is given once); 404 when there is none."""
    row = feeds.live(get_session(), require_user())
    if row is None:
        raise NotFound(_("You have no calendar feed."))
    return _read(row)


@bp.post("/calendar-feed")
@authenticated
@operation(ok=FeedRead, status=201, tags=["drills"])
def calendar_feed_create():
    """A new calendar feed for the caller, its address (`url`) given this once; the old feed, if
    any, stops working."""
    row, token = feeds.create(get_session(), actor(), require_user())
    return _read(row, ics.feed_url(token))


@bp.delete("/calendar-feed")
@authenticated
@operation(status=204, tags=["drills"])
def calendar_feed_delete():
    """Revoke the caller's calendar feed: its address answers 404 from now on."""
    if not feeds.revoke(get_session(), actor(), require_user()):
        raise NotFound(_("You have no calendar feed."))
