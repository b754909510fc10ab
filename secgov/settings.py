"""Administrator settings stored in the database, with defaults from the configuration."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlmodel import Session

from secgov import audit
from secgov.audit import Actor
from secgov.config import ROLES
from secgov.errors import Invalid
from secgov.models import Setting


def _roles_default() -> list[str]:
    raw = current_app.config.get("SECGOV_MFA_REQUIRED_ROLES", "admin")
    return [r for r in (part.strip() for part in raw.split(",")) if r in ROLES]


def _check_roles(value: Any) -> list[str]:
    if not isinstance(value, list) or any(r not in ROLES for r in value):
        raise Invalid(_("Unknown role."), field="mfa_required_roles")
    return sorted(set(value))


# name -> (default factory, validator)
KNOWN: dict[str, tuple[Callable[[], Any], Callable[[Any], Any]]] = {
    "mfa_required_roles": (_roles_default, _check_roles),
}


def get_setting(session: Session, key: str) -> Any:
    """The stored value of a known setting, or its default."""
    default, _check = KNOWN[key]
    row = session.get(Setting, key)
    return json.loads(row.value) if row else default()


def set_setting(session: Session, key: str, value: Any, actor: Actor) -> Any:
    """Validate and store a setting; audited with its old and new value."""
    if key not in KNOWN:
        raise Invalid(_("Unknown setting."), field=key)
    value = KNOWN[key][1](value)
    before = get_setting(session, key)
    row = session.get(Setting, key) or Setting(key=key, value="null")
    row.value = json.dumps(value)
    row.updated_at = datetime.now(UTC)
    row.updated_by = actor.username
    session.add(row)
    audit.record(
        session,
        actor,
        "setting.changed",
        object_type="setting",
        object_id=key,
        department_id=None,
        before={key: before},
        after={key: value},
    )
    return value
