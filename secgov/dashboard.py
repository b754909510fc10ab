"""The dashboard: the figures that matter in the reader's scope, each domain's tiles side by side,
with their trends from the daily snapshots. One service for the home page and `GET
/api/v1/dashboard` (and, later, the report's summary): a tile's data is plain JSON.

A domain declares its tiles (`Domain.tiles`); each tile computes its figures with a few grouped
queries in the actor's scope, so the page's statement count does not grow with the city."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlmodel import Session

from secgov import snapshots
from secgov.authz import Actor
from secgov.config import ServiceConfig
from secgov.snapshots import Figure

TREND_DAYS = 30


@dataclass(frozen=True)
class Tile:
    """A tile of the dashboard: its code, title (an N_ message), how its figures are computed for
    an actor (`build(session, actor, config, today) -> JSON-able dict`), the partial template
    that shows them (given `tile` and `data`), and the snapshot figures whose trends it shows."""

    code: str
    title: str
    build: Callable[[Session, Actor, ServiceConfig, date], Mapping[str, Any]]
    template: str
    trends: tuple[str, ...] = ()
    # Series computed from a day's values of the trends (a percentage from its parts).
    derived: Mapping[str, Callable[[dict[str, float]], float | None]] = field(default_factory=dict)


@dataclass
class TileData:
    tile: Tile
    data: Mapping[str, Any]
    trends: dict[str, list[tuple[date, float]]] = field(default_factory=dict)


def overview(
    session: Session,
    actor: Actor,
    config: ServiceConfig,
    tiles: Sequence[Tile],
    figures: Sequence[Figure],
    today: date,
) -> list[TileData]:
    """Every tile's figures for the actor, with the trends of the last TREND_DAYS days (one query
    for all the trends)."""
    wanted = {code for tile in tiles for code in tile.trends}
    known = [figure for figure in figures if figure.code in wanted]
    points = snapshots.series(session, actor, known, None, today - timedelta(days=TREND_DAYS - 1), today)
    by_figure: dict[str, list[tuple[date, float]]] = {}
    by_day: dict[date, dict[str, float]] = {}
    for point in points:
        by_figure.setdefault(point.figure, []).append((point.day, point.value))
        by_day.setdefault(point.day, {})[point.figure] = point.value
    result = []
    for tile in tiles:
        trends = {code: by_figure.get(code, []) for code in tile.trends}
        for name, derive in tile.derived.items():
            series = [(day, derive(values)) for day, values in sorted(by_day.items())]
            trends[name] = [(day, value) for day, value in series if value is not None]
        result.append(TileData(tile=tile, data=tile.build(session, actor, config, today), trends=trends))
    return result


def percent(part: float, whole: float) -> float | None:
    """part of whole in percent, one decimal; None when there is no whole."""
    return round(100 * part / whole, 1) if whole else None
