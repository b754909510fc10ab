"""The scope of the domain's records: an assessment or a risk belongs to the department of its
asset. One look-up for a record named in a path, one for an asset named in a body."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlmodel import Session, select

from assets.models import Asset
from secgov.authz import Actor, path_in_scope, scoped_row
from secgov.errors import Invalid, NotFound
from secgov.models import Department


def get_by_asset(session: Session, model: type, object_id: int, actor: Actor, object_type: str):
    """The record (a model with `asset_id`) with this id in the actor's scope: missing or out of
    scope, NotFound (the out-of-scope attempt audited), after the same one statement."""
    statement = (
        select(model.id, Department.path)
        .outerjoin(Asset, Asset.id == model.asset_id)
        .outerjoin(Department, Department.id == Asset.department_id)
        .where(model.id == object_id)
    )
    scoped_row(session, statement, actor, object_type, object_id)
    found = session.get(model, object_id)
    if found is None:  # removed since the look-up
        raise NotFound(_("Not found."))
    return found


def asset_in_scope(session: Session, asset_id: int, actor: Actor) -> Asset:
    """The asset a body names, in the actor's scope; otherwise 'Unknown asset.' (a missing asset
    and one out of scope read the same)."""
    found = session.exec(
        select(Asset.id, Department.path)
        .join(Department, Department.id == Asset.department_id)
        .where(Asset.id == asset_id)
    ).first()
    if found is None or not path_in_scope(found[1], actor):
        raise Invalid(_("Unknown asset."), field="asset_id")
    return session.get(Asset, asset_id)
