"""Configuration: defaults, overridden by the environment, overridden by create_app(config)."""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
import stat
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE = ROOT / "instance"
INSTANCE = Path(os.environ.get("SECGOV_INSTANCE_PATH", DEFAULT_INSTANCE))

LANGUAGES = ("zh", "en")
# Where users reach SecGov (SECGOV_PUBLIC_URL): links in e-mail start with it.
DEFAULT_PUBLIC_URL = "http://127.0.0.1:5000"
TRANSLATIONS = Path(__file__).parent / "translations"


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise SystemExit(f"configuration error: {name} must be a whole number, not {value!r}") from None


def _float(name: str, default: float) -> float:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 < number < 86400:
        raise SystemExit(f"configuration error: {name} must be a number of seconds, not {value!r}")
    return number


log = logging.getLogger(__name__)


def tighten(path: Path) -> None:
    """Take every permission of the group and of other accounts off path (0644 becomes 0600)."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        os.chmod(path, mode & 0o700)


def private_folder(folder: Path, *, tighten_existing: bool = False) -> None:
    """Create folder, and whichever of its parents are missing, private to this account (0700).

    A folder that exists already keeps its mode unless `tighten_existing`: it may be a parent the
    operator shares on purpose (the folder of a DATABASE_URL of theirs)."""
    missing = []
    current = folder
    while not current.exists():
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            continue  # another worker made it at the same moment, 0700 too
        os.chmod(path, 0o700)  # mkdir's mode went through the umask
    if tighten_existing and not missing:
        tighten(folder)


def same_folder(a: Path, b: Path) -> bool:
    return os.path.abspath(a) == os.path.abspath(b)


def prepare_instance(instance: Path = INSTANCE) -> None:
    """Make the instance folder private (0700): created so when missing, tightened when it is the
    default `instance/` of the checkout. A folder named by SECGOV_INSTANCE_PATH that existed before
    keeps its mode (it is the operator's), with a warning when other accounts may open it."""
    private_folder(instance, tighten_existing=same_folder(instance, DEFAULT_INSTANCE))
    if stat.S_IMODE(instance.stat().st_mode) & 0o077:
        log.warning("the instance folder %s is open to other accounts: make it private (chmod 700)", instance)


def private_file(path: Path) -> None:
    """Create path empty and 0600 when it is missing, or tighten it when it is not."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        tighten(path)
    else:
        os.close(fd)


def instance_file(instance: Path, name: str, make: Callable[[], str]) -> str:
    """The text of a private file of the instance folder, written once with make() when missing.

    Several workers may start together on a fresh instance: the text is written to a private
    temporary file and linked into place, so exactly one text wins and nobody reads half of it."""
    prepare_instance(instance)
    path = instance / name
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=instance, prefix=f".{name}.")  # created 0600
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(make())
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another process won the race; use its text
        finally:
            os.unlink(tmp)
    tighten(path)
    return path.read_text()


def load_secret_key(instance: Path = INSTANCE) -> str:
    """Return SECRET_KEY from the environment, or from instance/secret_key (created once, 0600)."""
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    return instance_file(instance, "secret_key", lambda: secrets.token_urlsafe(48)).strip()


def default_database_url(instance: Path = INSTANCE) -> str:
    """The embedded SQLite database under instance/."""
    return f"sqlite:///{instance / 'secgov.sqlite3'}"


def from_environment() -> dict:
    """Build the configuration mapping from defaults and environment variables."""
    return {
        "SECRET_KEY": None,  # resolved lazily by create_app so that tests need no file
        "DATABASE_URL": os.environ.get("DATABASE_URL") or None,
        "REDIS_URL": os.environ.get("REDIS_URL") or None,
        "SECGOV_SCAN_ALLOWED_NETWORKS": os.environ.get("SECGOV_SCAN_ALLOWED_NETWORKS", "127.0.0.0/8"),
        # Network targets of an asset: the largest CIDR block accepted, in addresses.
        "SECGOV_MAX_TARGET_ADDRESSES": _int("SECGOV_MAX_TARGET_ADDRESSES", 256),
        # Sessions: server-side revocation through the user's session version; no remember-me.
        "SESSION_COOKIE_SECURE": _bool("SECGOV_COOKIE_SECURE", True),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_NAME": "secgov_session",
        "PERMANENT_SESSION_LIFETIME": timedelta(minutes=_int("SECGOV_SESSION_ABSOLUTE_MINUTES", 8 * 60)),
        "SECGOV_SESSION_IDLE_MINUTES": _int("SECGOV_SESSION_IDLE_MINUTES", 30),
        "SECGOV_SESSION_ABSOLUTE_MINUTES": _int("SECGOV_SESSION_ABSOLUTE_MINUTES", 8 * 60),
        "REMEMBER_COOKIE_DURATION": timedelta(seconds=0),
        # Login throttling.
        "SECGOV_LOGIN_MAX_PER_ACCOUNT": _int("SECGOV_LOGIN_MAX_PER_ACCOUNT", 5),
        "SECGOV_LOGIN_MAX_PER_ADDRESS": _int("SECGOV_LOGIN_MAX_PER_ADDRESS", 20),
        "SECGOV_LOGIN_WINDOW_SECONDS": _int("SECGOV_LOGIN_WINDOW_SECONDS", 15 * 60),
        # Roles whose members must use TOTP, unless changed in the settings page.
        "SECGOV_MFA_REQUIRED_ROLES": os.environ.get("SECGOV_MFA_REQUIRED_ROLES", "admin"),
        # Request bodies above this size are refused with 413.
        "MAX_CONTENT_LENGTH": _int("SECGOV_MAX_CONTENT_LENGTH", 16 * 1024 * 1024),
        "MAX_JSON_BYTES": _int("SECGOV_MAX_JSON_BYTES", 1024 * 1024),
        # Register files (CSV/XLSX imports); their upload routes allow this much (plus the form).
        "SECGOV_MAX_UPLOAD_BYTES": _int("SECGOV_MAX_UPLOAD_BYTES", 20 * 1024 * 1024),
        # What one imported file may hold and cost (see ServiceConfig).
        "SECGOV_IMPORT_MAX_ROWS": _int("SECGOV_IMPORT_MAX_ROWS", ServiceConfig.import_max_rows),
        "SECGOV_IMPORT_MAX_COLUMNS": _int("SECGOV_IMPORT_MAX_COLUMNS", ServiceConfig.import_max_columns),
        "SECGOV_IMPORT_MAX_CELLS": _int("SECGOV_IMPORT_MAX_CELLS", ServiceConfig.import_max_cells),
        "SECGOV_IMPORT_MAX_STRINGS": _int("SECGOV_IMPORT_MAX_STRINGS", ServiceConfig.import_max_strings),
        "SECGOV_IMPORT_MAX_CHARACTERS": _int("SECGOV_IMPORT_MAX_CHARACTERS", ServiceConfig.import_max_characters),
        "SECGOV_IMPORT_MAX_SECONDS": _int("SECGOV_IMPORT_MAX_SECONDS", ServiceConfig.import_max_seconds),
        # Uploads above either of these become background runs (the command line stays synchronous).
        "SECGOV_IMPORT_BACKGROUND_ROWS": _int("SECGOV_IMPORT_BACKGROUND_ROWS", ServiceConfig.import_background_rows),
        "SECGOV_IMPORT_BACKGROUND_BYTES": _int("SECGOV_IMPORT_BACKGROUND_BYTES", ServiceConfig.import_background_bytes),
        "WTF_CSRF_TIME_LIMIT": None,  # bound to the session instead, which has its own limits
        "BABEL_DEFAULT_LOCALE": os.environ.get("SECGOV_DEFAULT_LANGUAGE", "zh")
        if os.environ.get("SECGOV_DEFAULT_LANGUAGE", "zh") in LANGUAGES
        else "zh",
        "BABEL_DEFAULT_TIMEZONE": os.environ.get("SECGOV_TIMEZONE", "Asia/Shanghai"),
        "BABEL_TRANSLATION_DIRECTORIES": str(TRANSLATIONS),
        "SECGOV_TRUSTED_PROXIES": _int("SECGOV_TRUSTED_PROXIES", 0),
        "SECGOV_SQL_ECHO": _bool("SECGOV_SQL_ECHO", False),
        # Background work (secgov.tasks, secgov.scheduler, secgov.runs). The queue's key signs
        # every task: the same on every host (unset: instance/tasks_key, made once).
        "SECGOV_TASKS_KEY": os.environ.get("SECGOV_TASKS_KEY") or None,
        "SECGOV_TASKS_PATH": os.environ.get("SECGOV_TASKS_PATH") or None,  # SqliteHuey's file
        # PostgresHuey's database when not the application's (the zones' agents reach only this).
        "SECGOV_TASKS_DATABASE_URL": os.environ.get("SECGOV_TASKS_DATABASE_URL") or None,
        "SECGOV_TASKS_IMMEDIATE": _bool("SECGOV_TASKS_IMMEDIATE", False),  # tests: run at once
        "SECGOV_SCHEDULE_MIN_SECONDS": _int("SECGOV_SCHEDULE_MIN_SECONDS", 60),
        "SECGOV_SCHEDULER_LEASE_SECONDS": _int("SECGOV_SCHEDULER_LEASE_SECONDS", 30),
        "SECGOV_SCHEDULER_POLL_SECONDS": _float("SECGOV_SCHEDULER_POLL_SECONDS", 2.0),
        "SECGOV_RUN_BEAT_SECONDS": _float("SECGOV_RUN_BEAT_SECONDS", 10.0),
        "SECGOV_RUN_STALE_SECONDS": _int("SECGOV_RUN_STALE_SECONDS", 60),
        "SECGOV_RUN_REAP_SECONDS": _float("SECGOV_RUN_REAP_SECONDS", 30.0),
        "SECGOV_RUN_UNCLAIMED_SECONDS": _int("SECGOV_RUN_UNCLAIMED_SECONDS", 300),
        # The keys that encrypt TOTP secrets in the database (see secgov.datakeys): comma-separated,
        # the first encrypts, all decrypt. Unset: instance/data_keys, made by `db upgrade`.
        "SECGOV_DATA_KEYS": os.environ.get("SECGOV_DATA_KEYS") or None,
        # E-mail (secgov.mail): no host, no e-mail. The values are checked when the app starts
        # (secgov.mail.check): the port's default follows the security (587, 465 with "tls").
        "SECGOV_SMTP_HOST": os.environ.get("SECGOV_SMTP_HOST", ""),
        "SECGOV_SMTP_PORT": os.environ.get("SECGOV_SMTP_PORT") or None,
        "SECGOV_SMTP_USERNAME": os.environ.get("SECGOV_SMTP_USERNAME", ""),
        "SECGOV_SMTP_PASSWORD": os.environ.get("SECGOV_SMTP_PASSWORD", ""),
        "SECGOV_SMTP_FROM": os.environ.get("SECGOV_SMTP_FROM", ""),
        "SECGOV_SMTP_SECURITY": os.environ.get("SECGOV_SMTP_SECURITY") or "starttls",
        "SECGOV_SMTP_CA_FILE": os.environ.get("SECGOV_SMTP_CA_FILE", ""),
        "SECGOV_SMTP_TIMEOUT": os.environ.get("SECGOV_SMTP_TIMEOUT") or None,
        # The address users reach SecGov at, as their browsers write it: the links that e-mail
        # carries (a scheduled report's page) start with it. Checked when the app starts.
        "SECGOV_PUBLIC_URL": os.environ.get("SECGOV_PUBLIC_URL") or DEFAULT_PUBLIC_URL,
        # Signed checkpoints of the audit chain (see secgov.checkpoints): the Ed25519 signing key,
        # its public key and the log. Unset: instance/checkpoint_key, instance/checkpoint_key.pub
        # and instance/audit-checkpoints.log.
        "SECGOV_CHECKPOINT_KEY": os.environ.get("SECGOV_CHECKPOINT_KEY") or None,
        "SECGOV_CHECKPOINT_PUBLIC_KEY": os.environ.get("SECGOV_CHECKPOINT_PUBLIC_KEY") or None,
        "SECGOV_CHECKPOINT_LOG": os.environ.get("SECGOV_CHECKPOINT_LOG") or None,
    }


@dataclass(frozen=True)
class ServiceConfig:
    """The part of the configuration that services obey, as one object: limits and defaults.

    The frames (pages, API, command line, later jobs) build it from the app's configuration with
    `from_mapping` and pass it to the services that need it; services never read the Flask app.
    The defaults here are the defaults of the environment variables."""

    # Network targets of an asset: the largest CIDR block accepted, in addresses.
    max_target_addresses: int = 256
    # An imported register file: its size, its data rows, the columns its header may name, its cells (rows x columns), the strings
    # an XLSX file's shared-string table may hold and the characters of all its cells, and how
    # long an import may take before it is stopped (and undone when all or nothing).
    max_upload_bytes: int = 20 * 1024 * 1024
    import_max_rows: int = 50_000
    import_max_columns: int = 100
    import_max_cells: int = 2_000_000
    import_max_strings: int = 1_000_000
    import_max_characters: int = 64 * 1024 * 1024
    import_max_seconds: int = 900
    # An upload with more data rows, or more bytes, than these is imported by a worker (a
    # background run, `secgov.exchange.background`); smaller ones during the request.
    import_background_rows: int = 1000
    import_background_bytes: int = 512 * 1024
    # An import report keeps this many problems, then counts the rest.
    import_report_problems: int = 200
    # The default of the city-wide setting "roles that must use TOTP" (until an admin changes it).
    mfa_required_roles: tuple[str, ...] = ("admin",)
    # Times are shown, and exports named, in this zone.
    timezone: str = "Asia/Shanghai"
    # The networks scans may ever reach (SECGOV_SCAN_ALLOWED_NETWORKS): the ceiling of the
    # city-wide setting of the same name, which can only narrow it.
    scan_allowed_networks: tuple[str, ...] = ("127.0.0.0/8",)

    @classmethod
    def from_mapping(cls, config: Mapping) -> ServiceConfig:
        """The service configuration of an app's configuration mapping."""
        return cls(
            max_target_addresses=int(config.get("SECGOV_MAX_TARGET_ADDRESSES", cls.max_target_addresses)),
            max_upload_bytes=int(config.get("SECGOV_MAX_UPLOAD_BYTES", cls.max_upload_bytes)),
            import_max_rows=int(config.get("SECGOV_IMPORT_MAX_ROWS", cls.import_max_rows)),
            import_max_columns=int(config.get("SECGOV_IMPORT_MAX_COLUMNS", cls.import_max_columns)),
            import_max_cells=int(config.get("SECGOV_IMPORT_MAX_CELLS", cls.import_max_cells)),
            import_max_strings=int(config.get("SECGOV_IMPORT_MAX_STRINGS", cls.import_max_strings)),
            import_max_characters=int(config.get("SECGOV_IMPORT_MAX_CHARACTERS", cls.import_max_characters)),
            import_max_seconds=int(config.get("SECGOV_IMPORT_MAX_SECONDS", cls.import_max_seconds)),
            import_background_rows=int(config.get("SECGOV_IMPORT_BACKGROUND_ROWS", cls.import_background_rows)),
            import_background_bytes=int(config.get("SECGOV_IMPORT_BACKGROUND_BYTES", cls.import_background_bytes)),
            mfa_required_roles=split_list(config.get("SECGOV_MFA_REQUIRED_ROLES", "admin")),
            timezone=str(config.get("BABEL_DEFAULT_TIMEZONE", cls.timezone)),
            scan_allowed_networks=split_list(config.get("SECGOV_SCAN_ALLOWED_NETWORKS", "127.0.0.0/8")),
        )


def split_list(value: str | None) -> tuple[str, ...]:
    """A comma-separated configuration value as its items, blanks dropped."""
    return tuple(item for item in (part.strip() for part in (value or "").split(",")) if item)


def parse_networks(texts: tuple[str, ...] | list[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Networks in CIDR form (a bare address is a network of one); ValueError names a bad one."""
    networks = []
    for text in texts:
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(f"not a network: {text!r}") from None
    return networks


def check(config: Mapping) -> None:
    """Refuse a configuration the services could not work with, naming the variable."""
    try:
        parse_networks(ServiceConfig.from_mapping(config).scan_allowed_networks)
    except ValueError as exc:
        raise SystemExit(f"configuration error: SECGOV_SCAN_ALLOWED_NETWORKS: {exc}") from None
    url = str(config.get("SECGOV_PUBLIC_URL") or DEFAULT_PUBLIC_URL)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise SystemExit(
            f"configuration error: SECGOV_PUBLIC_URL must be an http:// or https:// address such as "
            f"{DEFAULT_PUBLIC_URL}, not {url!r}"
        )
