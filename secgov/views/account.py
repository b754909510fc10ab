"""The signed-in user's own account: password, TOTP, API tokens, sign out everywhere."""

from __future__ import annotations

import base64

import segno
from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from secgov import auth, directory
from secgov.authz import authenticated, mfa_setup_allowed, require_user
from secgov.db import get_session
from secgov.errors import Invalid, Throttled
from secgov.forms import error_dict
from secgov.web import actor, end_session, start_session

bp = Blueprint("account", __name__, url_prefix="/account")


def _qr_data_uri(uri: str) -> str:
    svg = segno.make(uri, error="m").svg_inline(scale=4, dark="#111", light="#fff")
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def _render(errors: dict | None = None, new_token: str | None = None, status: int = 200):
    user = require_user()
    tokens = directory.user_tokens(get_session(), user)
    return render_template(
        "account/index.html", user=user, tokens=tokens, errors=errors or {}, new_token=new_token
    ), status


@bp.get("")
@authenticated
@mfa_setup_allowed
def index():
    """Profile, password, MFA status and API tokens."""
    return _render()


@bp.post("/password")
@authenticated
@mfa_setup_allowed
def password():
    """Change one's password; every other session ends, this one starts afresh."""
    user = require_user()
    db = get_session()
    new, repeat = request.form.get("new_password", ""), request.form.get("repeat_password", "")
    if new != repeat:
        return _render({"repeat_password": _("The two new passwords differ.")}, status=422)
    try:
        auth.change_password(db, user, request.form.get("current_password", ""), new, actor())
    except Invalid as exc:
        db.rollback()
        return _render(error_dict(exc), status=422)
    db.commit()
    start_session(user)
    flash(_("Your password was changed. Other sessions were signed out."), "success")
    return redirect(url_for("account.index"))


@bp.route("/mfa", methods=["GET", "POST"])
@authenticated
@mfa_setup_allowed
def mfa():
    """Enrol an authenticator: scan the code, then confirm with a first code."""
    user = require_user()
    if user.mfa_enabled:
        return render_template("account/mfa.html", enabled=True)
    secret = session.get("mfa_enrol_secret")
    if not secret or request.method == "GET":
        secret = auth.new_totp_secret()
        session["mfa_enrol_secret"] = secret
    uri = auth.provisioning_uri(user, secret)
    if request.method == "POST":
        db = get_session()
        try:
            auth.enable_totp(db, user, secret, request.form.get("code", ""), request.form.get("password", ""), actor())
        except (Invalid, Throttled) as exc:
            db.rollback()
            return render_template(
                "account/mfa.html", enabled=False, secret=secret, qr=_qr_data_uri(uri), error=exc.message
            ), exc.status
        db.commit()
        session.pop("mfa_enrol_secret", None)
        start_session(user)
        flash(_("Two-factor authentication is on. Other sessions were signed out."), "success")
        return redirect(url_for("account.index"))
    return render_template("account/mfa.html", enabled=False, secret=secret, qr=_qr_data_uri(uri))


@bp.post("/mfa/disable")
@authenticated
def mfa_disable():
    """Turn TOTP off after proving the current code; refused where the role requires it."""
    user = require_user()
    db = get_session()
    if auth.mfa_required(db, user):
        flash(_("Your role requires two-factor authentication; it cannot be turned off."), "danger")
        return redirect(url_for("account.index"))
    try:
        auth.verify_totp(db, user, request.form.get("code", ""), actor().ip)
    except (Invalid, Throttled) as exc:
        db.rollback()
        flash(exc.message, "danger")
        return redirect(url_for("account.index"))
    auth.disable_totp(db, user, actor())
    db.commit()
    start_session(user)
    flash(_("Two-factor authentication is off."), "info")
    return redirect(url_for("account.index"))


@bp.post("/tokens")
@authenticated
def token_create():
    """Create an API token; its text is shown this once."""
    user = require_user()
    db = get_session()
    try:
        _token, plain = auth.create_token(db, user, request.form.get("name", ""), actor())
    except Invalid as exc:
        db.rollback()
        return _render(error_dict(exc), status=422)
    db.commit()
    return _render(new_token=plain)


@bp.post("/tokens/<int:token_id>/revoke")
@authenticated
def token_revoke(token_id: int):
    """Revoke one of one's tokens."""
    db = get_session()
    auth.revoke_token(db, require_user(), token_id, actor())
    db.commit()
    flash(_("The token was revoked."), "info")
    return redirect(url_for("account.index"))


@bp.post("/sign-out-everywhere")
@authenticated
@mfa_setup_allowed
def sign_out_everywhere():
    """End every session of this user, on every browser."""
    db = get_session()
    auth.revoke_sessions(db, require_user(), actor(), "sign_out_everywhere")
    db.commit()
    end_session()
    flash(_("You were signed out on every device."), "info")
    return redirect(url_for("auth.login"))
