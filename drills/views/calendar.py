"""Calendars on the web: a drill's .ics download, the personal feed page (create, replace, revoke
one's feed) and the feed itself.

The feed (`/calendar/feed/<token>.ics`) is public: calendar programs fetch it without signing in,
the token in its address is the credential. A revoked, replaced or unknown token answers 404 (as
does the token of a disabled user). It never starts or refreshes a session (no cookie is set, even
for a browser that is signed in), and nobody caches it."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request, session, url_for
from flask_babel import gettext as _

from drills import feeds, ics, services
from secgov.authz import authenticated, public, roles
from secgov.codes import current_language
from secgov.config import LANGUAGES
from secgov.models import User
from secgov.pages import Done, act
from secgov.web import actor, get_session, require_user, service_config, side_transaction

bp = Blueprint("drill_calendar", __name__)


@bp.before_request
def _no_session_for_feeds() -> None:
    """The feed never sets a cookie: a calendar program keeps none, and a signed-in browser's
    session is left as it was (not refreshed). This runs after the frame identified the user."""
    if request.endpoint == "drill_calendar.feed":
        session.permanent = False  # not refreshed on every request (SESSION_REFRESH_EACH_REQUEST)
        session.modified = False  # what the frame noted (the time last seen) is not written


@bp.get("/drills/<int:drill_id>.ics")
@roles(*services.READERS)
def drill_ics(drill_id: int):
    """One drill as an iCalendar file, to import into one's calendar."""
    db = get_session()
    drill = services.get(db, actor(), drill_id)
    data = ics.drill_calendar(db, drill, service_config(), base_url=request.url_root, lang=current_language())
    return ics.response(data, ics.filename(drill.id, drill.title))


def _page(new_url: str | None = None) -> str:
    user = require_user()
    return render_template(
        "drills/calendar.html",
        feed=feeds.live(get_session(), user),
        new_url=new_url,
        months=ics.FEED_MONTHS,
        closed_days=ics.CLOSED_DAYS,
    )


@bp.get("/calendar")
@authenticated
def index():
    """One's personal calendar feed: whether it is live, since when, when it was last read."""
    return _page()


@bp.post("/calendar/feed")
@authenticated
def create():
    """A new feed address (the old one, if any, stops working); shown this once."""
    db = get_session()
    _row, token = feeds.create(db, actor(), require_user())
    db.commit()
    return _page(new_url=ics.feed_url(token))


@bp.post("/calendar/feed/revoke")
@authenticated
def revoke():
    """Revoke one's feed: its address answers 404 from now on."""

    def done(revoked: bool) -> Done:
        message = _("Your calendar feed was revoked.") if revoked else _("You have no calendar feed to revoke.")
        return Done(url_for("drill_calendar.index"), message, "info")

    return act(lambda: feeds.revoke(get_session(), actor(), require_user()), done=done)


@bp.get("/calendar/feed/<token>.ics")
@public
def feed(token: str):
    """A personal feed, for calendar programs: no sign-in, the token is the key."""
    with side_transaction() as side:  # its last use is noted (at most hourly)
        user_id = feeds.owner(side, token).id
    db = get_session()
    user = db.get(User, user_id)
    default = str(current_app.config.get("BABEL_DEFAULT_LOCALE") or "zh")
    lang = user.language if user.language in LANGUAGES else default
    data = ics.user_feed(db, user, service_config(), base_url=request.url_root, lang=lang)
    return ics.response(data, "", download=False)
