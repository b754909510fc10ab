"""The dashboard over the API: the same figures as the home page, as JSON."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, current_app
from flask_babel import gettext as _
from pydantic import BaseModel, Field

from secgov import dashboard, snapshots
from secgov.authz import READERS, roles
from secgov.rest import operation
from secgov.web import actor, get_session, service_config

bp = Blueprint("api_dashboard", __name__, url_prefix="/api/v1")


class TrendPoint(BaseModel):
    day: date
    value: float


class TileRead(BaseModel):
    code: str
    title: str = Field(description="The tile's title in the caller's language.")
    data: dict[str, Any] = Field(description="The tile's figures (codes, not labels).")
    trends: dict[str, list[TrendPoint]] = Field(description="Daily values of the last 30 days, by figure.")


class DashboardRead(BaseModel):
    department: str = Field(description="The top of the caller's scope.")
    today: date = Field(description="The city's day the figures are of.")
    tiles: list[TileRead]


@bp.get("/dashboard")
@roles(*READERS)
@operation(ok=DashboardRead, tags=["dashboard"])
def dashboard_get():
    """The figures of the caller's scope, tile by tile, with their trends from the daily snapshots."""
    db = get_session()
    registry = current_app.extensions["secgov_registry"]
    config = service_config()
    today = snapshots.local_today(config.timezone)
    tiles = dashboard.overview(db, actor(), config, registry.tiles, registry.figures, today)
    return DashboardRead(
        department=snapshots.scope_root(db, actor()).code,
        today=today,
        tiles=[
            TileRead(
                code=t.tile.code,
                title=_(t.tile.title),
                data=dict(t.data),
                trends={k: [TrendPoint(day=d, value=v) for d, v in points] for k, points in t.trends.items()},
            )
            for t in tiles
        ],
    )
