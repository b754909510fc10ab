"""Administrator settings stored in the database, with defaults from the configuration."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlmodel import Session

from secgov import audit, catalog
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


def _vendor_policy_default() -> dict:
    return {
        "enabled": True,
        "critical_sectors": catalog.critical_sectors(),
        "restricted_roles": catalog.restricted_roles(),
        "restricted_origins": ["foreign", "joint_venture"],
    }


def _check_vendor_policy(value: Any) -> dict:
    """Every code known; only planning, building and operating can be restricted (SPEC §1)."""
    known: dict[str, list[str]] = {
        "critical_sectors": list(catalog.sector_codes()),
        "restricted_roles": catalog.restricted_roles(),
        "restricted_origins": list(catalog.VENDOR_ORIGINS),
    }
    if not isinstance(value, dict) or set(value) != {"enabled", *known} or not isinstance(value["enabled"], bool):
        raise Invalid(_("The vendor-origin policy setting is malformed."), field="vendor_origin_policy")
    for key, codes in known.items():
        given = value[key]
        if not isinstance(given, list) or not all(isinstance(code, str) for code in given):
            raise Invalid(_("The vendor-origin policy setting is malformed."), field=key)
        unknown = [code for code in given if code not in codes]
        if unknown:
            raise Invalid(_("Not allowed in the vendor-origin policy: %(code)s", code=unknown[0][:40]), field=key)
    # Stored in catalog order, without duplicates.
    return {"enabled": value["enabled"], **{key: [c for c in codes if c in value[key]] for key, codes in known.items()}}


# name -> (default factory, validator)
KNOWN: dict[str, tuple[Callable[[], Any], Callable[[Any], Any]]] = {
    "mfa_required_roles": (_roles_default, _check_roles),
    "vendor_origin_policy": (_vendor_policy_default, _check_vendor_policy),
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
