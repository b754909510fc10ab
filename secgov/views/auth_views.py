"""Sign in (password, then TOTP), sign out, language choice."""

from __future__ import annotations

import time

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from secgov import auth, directory
from secgov.authz import mfa_setup_allowed, public
from secgov.config import LANGUAGES
from secgov.errors import Invalid, Throttled
from secgov.models import User
from secgov.pages import Done, act, safe_next
from secgov.web import actor, client_ip, end_session, get_session, settle, start_session, throttle

bp = Blueprint("auth", __name__)

MFA_PENDING_SECONDS = 300


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    """Password step; users with TOTP continue to the code step."""
    if g.secgov_user is not None:
        return redirect(url_for("main.index"))
    next_url = safe_next(request.values.get("next"), url_for("main.index"))
    if request.method != "POST":  # GET, and HEAD: showing a form never runs it
        return render_template("auth/login.html", next=next_url)
    db = get_session()
    try:
        user = auth.authenticate(
            db, request.form.get("username", ""), request.form.get("password", ""), client_ip(), throttle()
        )
    except (Invalid, Throttled) as exc:
        settle(exc)
        flash(exc.message, "danger")
        page = render_template("auth/login.html", next=next_url, username=request.form.get("username", ""))
        return page, 429 if isinstance(exc, Throttled) else 401
    if user.mfa_enabled:
        picked = session.get("lang")
        session.clear()
        if picked:  # the code step speaks the language picked on the sign-in page
            session["lang"] = picked
        session["mfa_pending"] = {"uid": user.id, "v": user.session_version, "at": int(time.time()), "next": next_url}
        db.commit()
        return redirect(url_for("auth.login_mfa"))
    auth.complete_login(db, user, client_ip(), throttle())
    db.commit()
    start_session(user)
    return redirect(next_url)


def _pending_user() -> User | None:
    pending = session.get("mfa_pending")
    if not pending or time.time() - pending.get("at", 0) > MFA_PENDING_SECONDS:
        return None
    user = get_session().get(User, pending.get("uid"))
    if user is None or user.disabled or user.session_version != pending.get("v") or not user.mfa_enabled:
        return None
    return user


@bp.route("/login/mfa", methods=["GET", "POST"])
@public
def login_mfa():
    """TOTP step of the sign-in."""
    user = _pending_user()
    if user is None:
        session.pop("mfa_pending", None)
        flash(_("Your sign-in has expired. Please start again."), "warning")
        return redirect(url_for("auth.login"))
    if request.method != "POST":  # GET, and HEAD: showing a form never runs it
        return render_template("auth/mfa.html")
    db = get_session()
    try:
        auth.verify_totp(db, user, request.form.get("code", ""), client_ip(), throttle())
    except (Invalid, Throttled) as exc:
        settle(exc)
        flash(exc.message, "danger")
        return render_template("auth/mfa.html"), exc.status if isinstance(exc, Throttled) else 401
    next_url = session["mfa_pending"].get("next") or url_for("main.index")
    auth.complete_login(db, user, client_ip(), throttle())
    db.commit()
    start_session(user)
    return redirect(safe_next(next_url, url_for("main.index")))


@bp.post("/logout")
@public
@mfa_setup_allowed
def logout():
    """Sign out: this and every other copy of the session cookie stop working."""
    user = g.secgov_user

    def sign_out():
        if user is not None:
            auth.revoke_sessions(get_session(), user, actor(), "logout")

    def done(_none):
        end_session()
        return Done(url_for("auth.login"), _("You have signed out."), "info")

    return act(sign_out, done=done)


@bp.post("/language")
@public
@mfa_setup_allowed
def language():
    """Switch the interface language; remembered for the signed-in user."""
    lang = request.form.get("lang", "")
    next_url = safe_next(request.form.get("next"), url_for("main.index"))
    if lang not in LANGUAGES:
        flash(_("Unknown language."), "danger")
        return redirect(next_url)
    user = g.secgov_user

    def remember():
        if user is not None and user.language != lang:
            directory.set_language(get_session(), user, lang, actor())

    def done(_none):
        session["lang"] = lang
        return Done(next_url, "")  # the page in the new language says it all

    return act(remember, done=done, back=next_url)
