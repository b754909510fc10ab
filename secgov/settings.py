"""City-wide settings stored in the database: each declared once as a `Setting` (its key, its
default from the configuration, its validator) by the core or by the domain that owns it."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask_babel import gettext as _
from sqlmodel import Session

from secgov import audit
from secgov.authz import Actor
from secgov.codes import ROLES
from secgov.config import ServiceConfig
from secgov.errors import Invalid
from secgov.models import Setting as SettingRow


@dataclass(frozen=True)
class Setting:
    """A city-wide setting: `default(config)` until someone stores a value, which
    `check(value, config)` validates (raising Invalid) and normalises."""

    key: str
    default: Callable[[ServiceConfig], Any]
    check: Callable[[Any, ServiceConfig], Any]


def get(session: Session, setting: Setting, config: ServiceConfig) -> Any:
    """The stored value of a setting, or its default."""
    row = session.get(SettingRow, setting.key)
    return json.loads(row.value) if row else setting.default(config)


def put(session: Session, setting: Setting, value: Any, actor: Actor, config: ServiceConfig) -> Any:
    """Validate and store a setting; audited with its old and new value."""
    value = setting.check(value, config)
    before = get(session, setting, config)
    row = session.get(SettingRow, setting.key) or SettingRow(key=setting.key, value="null")
    row.value = json.dumps(value)
    row.updated_at = datetime.now(UTC)
    row.updated_by = actor.username
    session.add(row)
    audit.record(
        session,
        actor,
        "setting.changed",
        object_type="setting",
        object_id=setting.key,
        department_id=None,
        before={setting.key: before},
        after={setting.key: value},
    )
    return value


def _roles_default(config: ServiceConfig) -> list[str]:
    return [role for role in ROLES if role in config.mfa_required_roles]


def _check_roles(value: Any, _config: ServiceConfig) -> list[str]:
    if not isinstance(value, list) or any(r not in ROLES for r in value):
        raise Invalid(_("Unknown role."), field="mfa_required_roles")
    return sorted(set(value))


MFA_REQUIRED_ROLES = Setting("mfa_required_roles", _roles_default, _check_roles)
CORE = (MFA_REQUIRED_ROLES,)
