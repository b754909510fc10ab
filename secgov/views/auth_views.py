"""Sign in (password, then TOTP), sign out, language choice."""

from __future__ import annotations

import time

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from secgov import auth, directory
from secgov.authz import mfa_setup_allowed, public
from secgov.config import LANGUAGES
from secgov.db import get_session
from secgov.errors import Invalid, Throttled
from secgov.forms import safe_next
from secgov.models import User
from secgov.web import actor, client_ip, end_session, start_session

bp = Blueprint("auth", __name__)

MFA_PENDING_SECONDS = 300


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    """Password step; users with TOTP continue to the code step."""
    if g.secgov_user is not None:
        return redirect(url_for("main.index"))
    next_url = safe_next(request.values.get("next"), url_for("main.index"))
    if request.method == "GET":
        return render_template("auth/login.html", next=next_url)
    db = get_session()
    try:
        user = auth.authenticate(db, request.form.get("username", ""), request.form.get("password", ""), client_ip())
    except Throttled as exc:
        flash(exc.message, "danger")
        return render_template("auth/login.html", next=next_url, username=request.form.get("username", "")), 429
    except Invalid as exc:
        db.commit()
        flash(exc.message, "danger")
        return render_template("auth/login.html", next=next_url, username=request.form.get("username", "")), 401
    if user.mfa_enabled:
        session.clear()
        session["mfa_pending"] = {"uid": user.id, "v": user.session_version, "at": int(time.time()), "next": next_url}
        db.commit()
        return redirect(url_for("auth.login_mfa"))
    auth.complete_login(db, user, client_ip())
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
    if request.method == "GET":
        return render_template("auth/mfa.html")
    db = get_session()
    try:
        auth.verify_totp(db, user, request.form.get("code", ""), client_ip())
    except (Invalid, Throttled) as exc:
        flash(exc.message, "danger")
        return render_template("auth/mfa.html"), exc.status if isinstance(exc, Throttled) else 401
    next_url = session["mfa_pending"].get("next") or url_for("main.index")
    auth.complete_login(db, user, client_ip())
    db.commit()
    start_session(user)
    return redirect(safe_next(next_url, url_for("main.index")))


@bp.post("/logout")
@public
@mfa_setup_allowed
def logout():
    """Sign out: this and every other copy of the session cookie stop working."""
    user = g.secgov_user
    if user is not None:
        db = get_session()
        auth.revoke_sessions(db, user, actor(), "logout")
        db.commit()
    end_session()
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.post("/language")
@public
@mfa_setup_allowed
def language():
    """Switch the interface language; remembered for the signed-in user."""
    lang = request.form.get("lang", "")
    if lang not in LANGUAGES:
        flash(_("Unknown language."), "danger")
    else:
        session["lang"] = lang
        user = g.secgov_user
        if user is not None and user.language != lang:
            db = get_session()
            directory.set_language(db, user, lang, actor())
            db.commit()
    return redirect(safe_next(request.form.get("next"), url_for("main.index")))
