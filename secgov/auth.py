"""Authentication: Argon2id passwords, TOTP with replay protection, sessions, API tokens."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask_babel import gettext as _
from sqlalchemy import Column, String, Table, type_coerce, update
from sqlalchemy import select as core_select
from sqlmodel import Session, SQLModel, func, select

from secgov import audit, settings
from secgov.authz import Actor, deny_out_of_scope
from secgov.config import ServiceConfig
from secgov.datakeys import DataKeyError, DataKeys, Sealed, is_plain
from secgov.errors import Invalid, NotFound, Refusal, Throttled
from secgov.models import ApiToken, User
from secgov.throttle import LoginThrottle

# OWASP's Argon2id floor: 19 MiB of memory, two passes, one lane.
hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
_DUMMY_HASH = hasher.hash(secrets.token_urlsafe(16))

PASSWORD_MIN = 12
PASSWORD_MAX = 256
TOKEN_PREFIX = "sgv_"  # noqa: S105 - a public prefix that marks SecGov tokens, not a secret
TOTP_ISSUER = "SecGov"
# An enrolment's key is shown again while this young (a reload, a second tab), then replaced;
# it is accepted while younger than the lifetime, so that a key just shown stays usable a while.
TOTP_PENDING_REUSE = timedelta(minutes=10)
TOTP_PENDING_LIFETIME = timedelta(minutes=30)


def hash_password(password: str) -> str:
    return hasher.hash(password)


def check_password_policy(password: str, username: str = "") -> None:
    """Raise Invalid unless the password is long enough and not the user name."""
    if len(password) < PASSWORD_MIN:
        raise Invalid(_("The password must have at least %(n)d characters.", n=PASSWORD_MIN), field="password")
    if len(password) > PASSWORD_MAX:
        raise Invalid(_("The password is too long."), field="password")
    if username and password.lower() == username.lower():
        raise Invalid(_("The password must not be the user name."), field="password")


def _verify_hash(stored: str, password: str) -> bool:
    try:
        return hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def find_user(session: Session, username: str) -> User | None:
    return session.exec(select(User).where(func.lower(User.username) == username.strip().lower())).first()


def _too_many() -> str:
    return _("Too many attempts. Wait a few minutes and try again.")


def authenticate(
    session: Session, username: str, password: str, ip: str, throttle: LoginThrottle, channel: str = "web"
) -> User:
    """Check a password login; failures are throttled, audited and worded the same way.

    A failure's refusal names the throttle's counters it adds to: the frame counts them after
    the rollback (see `secgov.throttle`)."""
    username = (username or "").strip()[:64]
    generic = _("Wrong user name or password.")
    if throttle.blocked(session, username, ip):
        raise Throttled(_too_many(), refusal=Refusal(Actor.anonymous(channel, ip, username), "auth.login_throttled"))
    user = find_user(session, username) if username else None
    if user is None:
        # Spend the same time as a real check, so timing does not reveal who exists.
        _verify_hash(_DUMMY_HASH, password or "")
        ok = False
    else:
        ok = _verify_hash(user.password_hash, password or "") and not user.disabled
    if not ok:
        actor = Actor.of(user, channel, ip) if user else Actor.anonymous(channel, ip, username)
        reason = "disabled" if user and user.disabled else "credentials"
        refusal = Refusal(
            actor, "auth.login_failed", detail={"reason": reason}, throttle_keys=throttle.failures(username, ip)
        )
        raise Invalid(generic, refusal=refusal)
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        session.add(user)
    return user


def complete_login(session: Session, user: User, ip: str, throttle: LoginThrottle, channel: str = "web") -> None:
    """Record a successful sign-in (after MFA when the user has it); the account's failures are
    forgotten in the same transaction."""
    throttle.succeeded(session, user.username)
    user.last_login_at = datetime.now(UTC)
    session.add(user)
    audit.record(
        session,
        Actor.of(user, channel, ip),
        "auth.login",
        object_type="user",
        object_id=user.username,
        mfa=user.mfa_enabled,
    )


# --- TOTP ----------------------------------------------------------------------------------


def mfa_required(session: Session, user: User, config: ServiceConfig) -> bool:
    """Whether one of the user's roles must use TOTP (the city-wide setting)."""
    required = set(settings.get(session, settings.MFA_REQUIRED_ROLES, config))
    return bool(user.roles & required)


def new_totp_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=TOTP_ISSUER)


def _matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    code = (code or "").strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = int((now if now is not None else time.time()) // totp.interval)
    # One step of clock drift either way.
    for step in (current - 1, current, current + 1):
        if secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def verify_totp(
    session: Session,
    user: User,
    code: str,
    ip: str,
    throttle: LoginThrottle,
    secret: str | None = None,
    channel: str = "web",
) -> None:
    """Accept a TOTP code once: its time step must be newer than the last one used."""
    secret = secret or user.totp_secret
    if not secret:
        raise Invalid(_("Two-factor authentication is not set up for this account."), field="code")
    if throttle.code_blocked(session, user.username):
        raise Throttled(_too_many(), refusal=Refusal(Actor.of(user, channel, ip), "auth.mfa_throttled"))
    step = _matching_step(secret, code)
    if step is None or (user.totp_last_step is not None and step <= user.totp_last_step):
        reason = "replayed" if step is not None else "wrong_code"
        refusal = Refusal(
            Actor.of(user, channel, ip),
            "auth.mfa_failed",
            detail={"reason": reason},
            throttle_keys=throttle.code_failures(user.username),
        )
        raise Invalid(
            _("The code is wrong or was already used. Wait for the next code."), field="code", refusal=refusal
        )
    throttle.code_succeeded(session, user.username)
    user.totp_last_step = step
    session.add(user)


def _now() -> datetime:
    # From time.time(), which the TOTP checks use too (and tests set).
    return datetime.fromtimestamp(time.time(), UTC)


def pending_totp_secret(session: Session, user_id: int) -> str:
    """The key an enrolment shows: the user's pending key while it is fresh, else a new one.

    It stays on the server (encrypted on the user's row), never in the session cookie, so that a
    replayed cookie cannot bring back a key shown earlier. The caller commits."""
    user = session.exec(
        select(User).where(User.id == user_id).with_for_update(of=User).execution_options(populate_existing=True)
    ).one()
    now = _now()
    if user.totp_pending and user.totp_pending_at and now - user.totp_pending_at < TOTP_PENDING_REUSE:
        return user.totp_pending
    user.totp_pending = new_totp_secret()
    user.totp_pending_at = now
    session.add(user)
    return user.totp_pending


def enable_totp(session: Session, user: User, code: str, password: str, actor: Actor, throttle: LoginThrottle) -> None:
    """Turn on TOTP with the user's pending key, after the user gave their password and proved
    the authenticator works.

    The password keeps a stolen session cookie from enrolling the thief's authenticator.
    Every other session ends.
    """
    confirm_password(session, user, password, actor, throttle, "user.mfa_enable", "password")
    secret = user.totp_pending
    if not secret or user.totp_pending_at is None or _now() - user.totp_pending_at >= TOTP_PENDING_LIFETIME:
        raise Invalid(
            _("This key has expired. Scan the new code and enter the code the app shows."),
            field="code",
            refusal=Refusal(actor, "user.mfa_enable_failed", "user", user.username, {"reason": "expired"}),
        )
    verify_totp(session, user, code, actor.ip, throttle, secret=secret, channel=actor.channel)
    user.totp_secret = secret
    user.totp_pending = None
    user.totp_pending_at = None
    user.session_version += 1
    user.version += 1
    session.add(user)
    audit.record(
        session,
        actor,
        "user.mfa_enabled",
        object_type="user",
        object_id=user.username,
        department_id=user.department_id,
    )


def disable_totp(session: Session, user: User, actor: Actor) -> None:
    """Remove a user's TOTP (self-service or by an admin); every session of the user ends."""
    user.totp_secret = None
    user.totp_last_step = None
    user.totp_pending = None
    user.totp_pending_at = None
    user.session_version += 1
    user.version += 1
    session.add(user)
    _record_mfa_off(session, user, actor)


def _record_mfa_off(session: Session, user: User, actor: Actor, **detail) -> None:
    audit.record(
        session,
        actor,
        "user.mfa_disabled",
        object_type="user",
        object_id=user.username,
        department_id=user.department_id,
        **detail,
    )


def reset_totp(session: Session, username: str, actor: Actor, reason: str) -> User:
    """Remove a user's TOTP from the command line, without reading it: this works when the data
    key that encrypted it is lost (an administrator who cannot sign in any more). Every session of
    the user ends; they enrol again at their next sign-in. Audited with the reason."""
    found = session.exec(select(User.id).where(func.lower(User.username) == username.strip().lower())).first()
    if found is None:
        raise NotFound(_("Not found."))
    session.execute(
        update(User)
        .where(User.id == found)
        .values(
            totp_secret=None,
            totp_last_step=None,
            totp_pending=None,
            totp_pending_at=None,
            session_version=User.session_version + 1,
            version=User.version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    user = session.exec(select(User).where(User.id == found).execution_options(populate_existing=True)).one()
    _record_mfa_off(session, user, actor, reason=reason)
    return user


# --- secrets at rest --------------------------------------------------------------------------


def sealed_columns() -> list[tuple[Table, Column]]:
    """Every encrypted column of the schema (`Sealed`): the TOTP secrets, and whatever comes later."""
    return [
        (table, column)
        for table in SQLModel.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, Sealed)
    ]


def _stored(session: Session, table: Table, column: Column) -> list[tuple[object, str]]:
    """The stored values of a sealed column as they are in the database (not decrypted), by key."""
    (key,) = table.primary_key.columns
    rows = session.execute(core_select(key, type_coerce(column, String)).where(column.is_not(None)).order_by(key))
    return [(row[0], row[1]) for row in rows]


def _store(session: Session, table: Table, column: Column, key_value: object, stored: str) -> None:
    (key,) = table.primary_key.columns
    session.execute(update(table).where(key == key_value).values({column.name: type_coerce(stored, String)}))


@dataclass(frozen=True)
class SecretSurvey:
    """The encrypted values in the database, by the key they need."""

    total: int = 0
    first_key: int = 0
    older_keys: int = 0
    plain: int = 0
    unreadable: int = 0


def survey_secrets(session: Session, keys: DataKeys) -> SecretSurvey:
    """Count the stored secrets the first key reads, those that need an older key, those still in
    plain text and those no key reads."""
    counts = {"first_key": 0, "older_keys": 0, "plain": 0, "unreadable": 0}
    for table, column in sealed_columns():
        for _key, stored in _stored(session, table, column):
            if is_plain(stored):
                counts["plain"] += 1
            elif keys.first_decrypts(stored):
                counts["first_key"] += 1
            else:
                try:
                    keys.decrypt(stored)
                except DataKeyError:
                    counts["unreadable"] += 1
                else:
                    counts["older_keys"] += 1
    return SecretSurvey(total=sum(counts.values()), **counts)


def encrypt_plain_secrets(session: Session, keys: DataKeys, actor: Actor) -> int:
    """Encrypt the secrets a database from before encryption holds in plain text (db upgrade);
    how many. Encrypted ones are left alone, so running it again changes nothing. Refused, with
    nothing written, when a stored secret cannot be decrypted: the keys are then the wrong ones,
    and what they encrypted could never be read with the right ones."""
    survey = survey_secrets(session, keys)
    if survey.unreadable:
        raise DataKeyError(
            f"{survey.unreadable} stored secrets cannot be decrypted with the data keys of {keys.source}:"
            " they are not the keys that encrypted them; nothing was encrypted"
        )
    if not survey.plain:
        return 0
    for table, column in sealed_columns():
        for key_value, stored in _stored(session, table, column):
            if is_plain(stored):
                _store(session, table, column, key_value, keys.encrypt(stored))
    audit.record(session, actor, "keys.plain_secrets_encrypted", object_type="data_keys", secrets=survey.plain)
    return survey.plain


def rotate_secrets(session: Session, keys: DataKeys, actor: Actor) -> int:
    """Encrypt every stored secret again with the first key (after a new key was put first), so
    that the older keys can be dropped; how many. A secret no key reads stops it, nothing written."""
    count = 0
    for table, column in sealed_columns():
        for key_value, stored in _stored(session, table, column):
            _store(session, table, column, key_value, keys.rotate(stored))
            count += 1
    audit.record(session, actor, "keys.rotated", object_type="data_keys", secrets=count)
    return count


# --- sessions ------------------------------------------------------------------------------


def revoke_sessions(session: Session, user: User, actor: Actor, reason: str) -> None:
    """Invalidate every session cookie of user (logout, sign out everywhere)."""
    user.session_version += 1
    session.add(user)
    audit.record(
        session, actor, f"auth.{reason}", object_type="user", object_id=user.username, department_id=user.department_id
    )


def confirm_password(
    session: Session, user: User, password: str, actor: Actor, throttle: LoginThrottle, action: str, field: str
) -> None:
    """Re-check a signed-in user's password before a sensitive change.

    Throttled like sign-in (the same counters), so that a stolen session cookie is no unlimited
    password guesser.
    """
    if throttle.blocked(session, user.username, actor.ip):
        raise Throttled(_too_many(), refusal=Refusal(actor, f"{action}_throttled", "user", user.username))
    if not _verify_hash(user.password_hash, password or ""):
        keys = throttle.failures(user.username, actor.ip)
        refusal = Refusal(actor, f"{action}_failed", "user", user.username, {"reason": "password"}, keys)
        raise Invalid(_("The current password is wrong."), field=field, refusal=refusal)


def change_password(
    session: Session, user: User, current: str, new: str, actor: Actor, throttle: LoginThrottle
) -> None:
    """Change one's own password; all sessions end, including this one's old cookie."""
    confirm_password(session, user, current, actor, throttle, "user.password_change", "current_password")
    check_password_policy(new, user.username)
    set_password(session, user, new, actor)


def set_password(session: Session, user: User, new: str, actor: Actor) -> None:
    check_password_policy(new, user.username)
    user.password_hash = hash_password(new)
    user.password_changed_at = datetime.now(UTC)
    user.session_version += 1
    user.version += 1
    session.add(user)
    audit.record(
        session,
        actor,
        "user.password_changed",
        object_type="user",
        object_id=user.username,
        department_id=user.department_id,
    )


def load_session_user(session: Session, user_id: str) -> User | None:
    """Flask-Login's loader: "id:version"; a stale version or a disabled user is no one."""
    try:
        raw_id, raw_version = user_id.split(":", 1)
        uid, version = int(raw_id), int(raw_version)
    except (ValueError, AttributeError):
        return None
    user = session.get(User, uid)
    if user is None or user.disabled or user.session_version != version:
        return None
    return user


# --- API tokens ------------------------------------------------------------------------------


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, user: User, name: str, actor: Actor) -> tuple[ApiToken, str]:
    """Make a token for user; the plain text is returned once and never stored."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise Invalid(_("Give the token a name of at most 100 characters."), field="name")
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, prefix=plain[:10], token_hash=_token_digest(plain))
    session.add(token)
    session.flush()
    audit.record(
        session,
        actor,
        "token.created",
        object_type="api_token",
        object_id=token.id,
        department_id=user.department_id,
        name=name,
        owner=user.username,
    )
    return token, plain


def revoke_token(session: Session, user: User, token_id: int, actor: Actor) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(_("Not found."))
    if token.user_id != user.id:
        # Tokens are personal: another user's token is out of scope.
        deny_out_of_scope(actor, "api_token", token_id)
    if token.revoked_at is None:
        token.revoked_at = datetime.now(UTC)
        session.add(token)
        audit.record(
            session,
            actor,
            "token.revoked",
            object_type="api_token",
            object_id=token.id,
            department_id=user.department_id,
            owner=user.username,
        )
    return token


def token_owner(session: Session, plain: str) -> tuple[User, ApiToken] | None:
    """The active owner of an unrevoked token, and the token; or None."""
    if not plain.startswith(TOKEN_PREFIX) or len(plain) > 200:
        return None
    found = session.exec(
        select(User, ApiToken)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == _token_digest(plain))
    ).first()
    if found is None:
        return None
    user, token = found
    if token.revoked_at is not None or user.disabled:
        return None
    return user, token


TOKEN_USE_RESOLUTION = timedelta(minutes=10)


def note_token_use(session: Session, token_id: int) -> None:
    """Record when a token was last used, at most every few minutes (the caller's transaction)."""
    now = datetime.now(UTC)
    token = session.get(ApiToken, token_id)
    if token is not None and (token.last_used_at is None or now - token.last_used_at > TOKEN_USE_RESOLUTION):
        token.last_used_at = now
        session.add(token)
