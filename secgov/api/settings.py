"""City-wide settings over the API, so that a city can manage them as code: GET gives every
setting's value by key, PATCH takes any of them back (all or nothing; null: the default). The
same service as the settings page: only the root department's administrators change them."""

from __future__ import annotations

from collections.abc import Sequence

from flask import Blueprint
from pydantic import BaseModel, ConfigDict, create_model

from secgov import settings
from secgov.authz import roles
from secgov.rest import operation
from secgov.settings import Setting
from secgov.web import actor, get_session, service_config

# Who reads the settings: administrators, and those who check them.
READERS = ("admin", "leader", "auditor")


def models(declared: Sequence[Setting]) -> tuple[type[BaseModel], type[BaseModel]]:
    """The answer (every setting) and the PATCH body (any of them, null for the default)."""
    fields = {s.key: (s.type, ...) for s in declared}
    optional = {s.key: (s.type | None, None) for s in declared}
    read = create_model("Settings", __module__=__name__, **fields)
    update = create_model(
        "SettingsUpdate",
        __module__=__name__,
        __config__=ConfigDict(extra="forbid", str_strip_whitespace=True),
        **optional,
    )
    read.__doc__ = "Every city-wide setting, by key."
    update.__doc__ = "The settings to change, by key; the others stay. null puts a setting back to its default."
    return read, update


def blueprint(declared: Sequence[Setting]) -> Blueprint:
    """The settings endpoints for these settings (the registry's; one blueprint per app)."""
    bp = Blueprint("settings_api", __name__, url_prefix="/api/v1")
    read, update = models(declared)

    @bp.get("/settings")
    @roles(*READERS)
    @operation(ok=read, tags=["settings"], errors=(400, 401, 403))
    def settings_get():
        """Every city-wide setting's value."""
        return settings.values(get_session(), declared, service_config())

    @bp.patch("/settings")
    @roles("admin")
    @operation(body=update, ok=read, tags=["settings"], errors=(400, 401, 403, 413, 415, 422))
    def settings_update(body: BaseModel):
        """Change city-wide settings (administrators of the city's root department only); every change is audited."""
        changes = {key: getattr(body, key) for key in body.model_fields_set}
        changes = {key: value.model_dump() if isinstance(value, BaseModel) else value for key, value in changes.items()}
        return settings.update(get_session(), declared, changes, actor(), service_config())

    return bp
