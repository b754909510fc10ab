"""The signed-in user's own account: password, TOTP, API tokens, sign out everywhere."""

from __future__ import annotations

import segno
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from secgov import auth, directory
from secgov.authz import authenticated, mfa_setup_allowed
from secgov.errors import ServiceError, field_errors
from secgov.pages import Done, act
from secgov.web import (
    actor,
    end_session,
    get_session,
    require_user,
    service_config,
    settle,
    side_transaction,
    start_session,
    throttle,
)

bp = Blueprint("account", __name__, url_prefix="/account")


def _qr_data_uri(uri: str) -> str:
    # An SVG image must declare its namespace: svg_inline() leaves it out (fine inside HTML, an
    # empty image in a data: URI); svg_data_uri() writes it.
    return segno.make(uri, error="m").svg_data_uri(scale=4, dark="#111", light="#fff")


def _page(errors: dict | None = None, new_token: str | None = None) -> str:
    user = require_user()
    tokens = directory.user_tokens(get_session(), user)
    return render_template("account/index.html", user=user, tokens=tokens, errors=errors or {}, new_token=new_token)


@bp.get("")
@authenticated
@mfa_setup_allowed
def index():
    """Profile, password, MFA status and API tokens."""
    return _page()


@bp.post("/password")
@authenticated
@mfa_setup_allowed
def password():
    """Change one's password; every other session ends, this one starts afresh."""
    user = require_user()
    new, repeat = request.form.get("new_password", ""), request.form.get("repeat_password", "")
    if new != repeat:
        return _page({"repeat_password": _("The two new passwords differ.")}), 422

    def change():
        auth.change_password(get_session(), user, request.form.get("current_password", ""), new, actor(), throttle())
        return user

    def done(changed):
        start_session(changed)
        return Done(url_for("account.index"), _("Your password was changed. Other sessions were signed out."))

    return act(change, done=done, again=_page)


@bp.route("/mfa", methods=["GET", "POST"])
@authenticated
@mfa_setup_allowed
def mfa():
    """Enrol an authenticator: scan the code, then confirm with a first code.

    The key shown is the user's pending key, kept on the server (see `auth.pending_totp_secret`);
    the page writes it in a short transaction of its own, the request's own being a read."""
    user = require_user()
    if user.mfa_enabled:
        return render_template("account/mfa.html", enabled=True)

    def page(errors: dict | None = None) -> str:
        user_id = user.id  # read before the side transaction: it ends the request's own
        with side_transaction() as side:
            secret = auth.pending_totp_secret(side, user_id)
        uri = auth.provisioning_uri(user, secret)
        error = next(iter((errors or {}).values()), None)
        return render_template("account/mfa.html", enabled=False, secret=secret, qr=_qr_data_uri(uri), error=error)

    if request.method != "POST":  # GET, and HEAD: showing a form never runs it
        return page()

    def enable():
        code, given = request.form.get("code", ""), request.form.get("password", "")
        auth.enable_totp(get_session(), user, code, given, actor(), throttle())
        return user

    def done(enrolled):
        start_session(enrolled)
        return Done(url_for("account.index"), _("Two-factor authentication is on. Other sessions were signed out."))

    return act(enable, done=done, again=page)


@bp.post("/mfa/disable")
@authenticated
def mfa_disable():
    """Turn TOTP off after proving the current code; refused where the role requires it."""
    user = require_user()
    db = get_session()
    if auth.mfa_required(db, user, service_config()):
        flash(_("Your role requires two-factor authentication; it cannot be turned off."), "danger")
        return redirect(url_for("account.index"))

    def disable():
        auth.verify_totp(db, user, request.form.get("code", ""), actor().ip, throttle())
        auth.disable_totp(db, user, actor())
        return user

    def done(changed):
        start_session(changed)
        return Done(url_for("account.index"), _("Two-factor authentication is off."), "info")

    return act(disable, done=done, back=url_for("account.index"))


@bp.post("/tokens")
@authenticated
def token_create():
    """Create an API token; its text is shown this once."""
    db = get_session()
    try:
        _token, plain = auth.create_token(db, require_user(), request.form.get("name", ""), actor())
    except ServiceError as exc:
        settle(exc)
        return _page(field_errors(exc)), 422
    db.commit()
    return _page(new_token=plain)


@bp.post("/tokens/<int:token_id>/revoke")
@authenticated
def token_revoke(token_id: int):
    """Revoke one of one's tokens."""
    return act(
        lambda: auth.revoke_token(get_session(), require_user(), token_id, actor()),
        done=lambda _token: Done(url_for("account.index"), _("The token was revoked."), "info"),
    )


@bp.post("/sign-out-everywhere")
@authenticated
@mfa_setup_allowed
def sign_out_everywhere():
    """End every session of this user, on every browser."""

    def done(_user):
        end_session()
        return Done(url_for("auth.login"), _("You were signed out on every device."), "info")

    return act(lambda: auth.revoke_sessions(get_session(), require_user(), actor(), "sign_out_everywhere"), done=done)
