"""City-wide settings stored in the database: each declared once as a `Setting` (its key, its
default from the configuration, its validator, its label and form) by the core or by the domain
that owns it; the registry collects them all (`Registry.settings`).

Every setting is city-wide, so only the city's root department changes them (`may_change`): a
bureau's administrators read them and manage their own subtree's users and departments. The
settings page and the API (`/api/v1/settings`) both go through `update`."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Protocol

from flask_babel import gettext as _
from pydantic import Field, StringConstraints
from sqlmodel import Session, select

from secgov import audit
from secgov.authz import Actor
from secgov.codes import N_, ROLE, ROLES
from secgov.config import ServiceConfig, parse_networks
from secgov.errors import Forbidden, Invalid, Refusal
from secgov.models import Setting as SettingRow


class FormData(Protocol):
    """What a setting's `read_form` reads: a posted form (Werkzeug's MultiDict has this shape)."""

    def get(self, key: str, default: str = "") -> str: ...

    def getlist(self, key: str) -> list[str]: ...


@dataclass(frozen=True)
class Setting:
    """A city-wide setting: `default(config)` until someone stores a value, which
    `check(value, config)` validates (raising Invalid) and normalises.

    `type` is the value's JSON shape for the API (a pydantic type), `label` and `help` English
    messages marked with N_, `form` the template of its fieldset on the settings page and
    `read_form` what that fieldset posts, as a value for `check`. `changed(session, before,
    after, actor, config)`, when given, runs in the same transaction after a change is stored and
    audited: what the new value means for stored records (a new risk matrix relevels the risks)."""

    key: str
    default: Callable[[ServiceConfig], Any]
    check: Callable[[Any, ServiceConfig], Any]
    type: Any = Any
    label: str = ""
    help: str = ""
    form: str = ""
    read_form: Callable[[FormData], Any] | None = None
    changed: Callable[[Session, Any, Any, Actor, ServiceConfig], None] | None = None


@dataclass(frozen=True)
class Current:
    """A setting's value now, and who set it when (nobody: the default)."""

    setting: Setting
    value: Any
    default: Any
    updated_at: datetime | None = None
    updated_by: str = ""


def may_change(actor: Actor) -> bool:
    """Whether the actor may change city-wide settings: the root department's people and the
    system itself (the routes add the admin role)."""
    return actor.city_wide


def get(session: Session, setting: Setting, config: ServiceConfig) -> Any:
    """The stored value of a setting, or its default."""
    row = session.get(SettingRow, setting.key)
    return json.loads(row.value) if row else setting.default(config)


def current(session: Session, declared: Sequence[Setting], config: ServiceConfig) -> list[Current]:
    """Every declared setting with its value and last change, in one query."""
    rows = {row.key: row for row in session.exec(select(SettingRow)).all()}
    result = []
    for setting in declared:
        row = rows.get(setting.key)
        default = setting.default(config)
        if row is None:
            result.append(Current(setting, default, default))
        else:
            result.append(Current(setting, json.loads(row.value), default, row.updated_at, row.updated_by))
    return result


def values(session: Session, declared: Sequence[Setting], config: ServiceConfig) -> dict[str, Any]:
    """Every declared setting's value by key (what the API reads and takes back)."""
    return {item.setting.key: item.value for item in current(session, declared, config)}


def update(
    session: Session, declared: Sequence[Setting], changes: Mapping[str, Any], actor: Actor, config: ServiceConfig
) -> dict[str, Any]:
    """Change several settings at once, all or nothing; a value None puts a setting back to its
    default. Only the root department may (refused and audited otherwise); every change is
    audited with its value before and after; a value that does not change is not recorded."""
    by_key = {setting.key: setting for setting in declared}
    if not may_change(actor):
        refusal = Refusal(actor, "setting.denied", "setting", ",".join(sorted(changes))[:64], {"keys": sorted(changes)})
        raise Forbidden(_("City-wide settings are changed only by the administrators of the city."), refusal=refusal)
    unknown = [key for key in changes if key not in by_key]
    if unknown:
        raise Invalid(_("Unknown setting: %(key)s", key=unknown[0][:100]), field=unknown[0][:100])
    checked = {key: None if value is None else by_key[key].check(value, config) for key, value in changes.items()}
    for key, value in checked.items():
        _store(session, by_key[key], value, actor, config)
    return values(session, declared, config)


def _store(session: Session, setting: Setting, value: Any, actor: Actor, config: ServiceConfig) -> None:
    before = get(session, setting, config)
    row = session.get(SettingRow, setting.key)
    after = setting.default(config) if value is None else value
    # Nothing to do: the same value again (stored, or the default: it stays the default, and
    # follows the installation's configuration), or a reset of a setting never stored.
    if (value is not None and after == before) or (value is None and row is None):
        return
    if value is None:
        if row is not None:
            session.delete(row)
    else:
        row = row or SettingRow(key=setting.key, value="null")
        row.value = json.dumps(value)
        row.updated_at = datetime.now(UTC)
        row.updated_by = actor.username
        session.add(row)
    session.flush()
    extra = {"reset": True} if value is None else {}
    audit.record(
        session,
        actor,
        "setting.changed",
        object_type="setting",
        object_id=setting.key,
        department_id=None,
        before={setting.key: before},
        after={setting.key: after},
        **extra,
    )
    if setting.changed is not None:
        setting.changed(session, before, after, actor, config)


# --- the core's settings -----------------------------------------------------------------------


def whole_number(key: str, lo: int, hi: int, message: Callable[[], str]):
    """The `check` and `read_form` of a setting that is a whole number from lo to hi (a number of
    days, of months); `message()` says so in the reader's language."""

    def check(value: Any, _config: ServiceConfig) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise Invalid(message(), field=key)
        return value

    def read_form(form: FormData) -> Any:
        text = form.get(key, "").strip()
        return int(text) if text.isdigit() else text

    return check, read_form


def _roles_default(config: ServiceConfig) -> list[str]:
    return [role for role in ROLES if role in config.mfa_required_roles]


def _check_roles(value: Any, _config: ServiceConfig) -> list[str]:
    if not isinstance(value, list) or any(r not in ROLES for r in value):
        raise Invalid(_("Unknown role."), field="mfa_required_roles")
    return [role for role in ROLES if role in value]


MFA_REQUIRED_ROLES = Setting(
    "mfa_required_roles",
    _roles_default,
    _check_roles,
    type=list[ROLE.literal],
    label=N_("Roles that must use two-factor authentication"),
    help=N_("Members of these roles must set up an authenticator app before they can use SecGov."),
    form="admin/settings/mfa_required_roles.html",
    read_form=lambda form: form.getlist("mfa_required_roles"),
)

MAX_NETWORKS = 100
Network = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


def _networks_default(config: ServiceConfig) -> list[str]:
    return list(config.scan_allowed_networks)


def _check_networks(value: Any, config: ServiceConfig) -> list[str]:
    """Networks in CIDR form, each inside the ceiling SECGOV_SCAN_ALLOWED_NETWORKS: this setting
    can narrow the ceiling, never widen it."""
    field = "scan_allowed_networks"
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise Invalid(_("Give a list of networks."), field=field)
    if len(value) > MAX_NETWORKS:
        raise Invalid(_("At most %(n)d networks.", n=MAX_NETWORKS), field=field)
    ceiling = parse_networks(config.scan_allowed_networks)
    result: list[str] = []
    for text in value:
        try:
            network = ipaddress.ip_network(text.strip(), strict=False)
        except ValueError:
            raise Invalid(_("Not a network: %(value)s", value=text.strip()[:64]), field=field) from None
        if not any(network.version == top.version and network.subnet_of(top) for top in ceiling):
            raise Invalid(
                _(
                    "%(network)s is outside the networks this installation allows (%(ceiling)s).",
                    network=str(network),
                    ceiling=", ".join(str(top) for top in ceiling),
                ),
                field=field,
            )
        if str(network) not in result:
            result.append(str(network))
    return result


def allowed_networks(session: Session, config: ServiceConfig) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The networks scans may reach: the setting, clipped to the ceiling of the environment (a
    ceiling narrowed after the setting was stored still wins)."""
    ceiling = parse_networks(config.scan_allowed_networks)
    result = []
    for text in get(session, SCAN_ALLOWED_NETWORKS, config):
        network = ipaddress.ip_network(text, strict=False)
        for top in ceiling:
            if network.version != top.version:
                continue
            if network.subnet_of(top):
                result.append(network)
            elif top.subnet_of(network):
                result.append(top)
    return sorted(set(result), key=lambda n: (n.version, n))


def _read_networks(form: FormData) -> list[str]:
    return [line.strip() for line in form.get("scan_allowed_networks", "").splitlines() if line.strip()]


SCAN_ALLOWED_NETWORKS = Setting(
    "scan_allowed_networks",
    _networks_default,
    _check_networks,
    type=Annotated[list[Network], Field(max_length=MAX_NETWORKS)],
    label=N_("Networks that scans may reach"),
    help=N_(
        "One network per line, in CIDR form (127.0.0.0/8). Every scan authorization must lie inside "
        "these networks. They can only narrow what the installation allows."
    ),
    form="admin/settings/scan_allowed_networks.html",
    read_form=_read_networks,
)

CORE = (MFA_REQUIRED_ROLES, SCAN_ALLOWED_NETWORKS)
