"""The domain catalogs shipped with SecGov (secgov/catalogs/*.json): codes and their labels."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

CATALOG_DIR = Path(__file__).parent / "catalogs"

VENDOR_ORIGINS = ("domestic", "foreign", "joint_venture")
VENDOR_ROLES = ("planner", "builder", "operator", "product_supplier", "advisor", "investor")
DATA_LEVELS = ("core", "important", "general")
LIFECYCLES = ("planned", "building", "operational", "retired")
CONTROL_STATUSES = ("implemented", "partial", "planned", "not_implemented", "not_applicable")
MLPS_EXTENSIONS = ("cloud", "mobile", "iot", "ics")
MLPS_LEVELS = (1, 2, 3, 4, 5)


@cache
def load(name: str) -> dict[str, Any]:
    """One catalog file, parsed once per process."""
    with open(CATALOG_DIR / f"{name}.json", encoding="utf-8") as handle:
        return json.load(handle)


def domain() -> dict[str, Any]:
    return load("domain")


def sectors() -> list[dict]:
    return domain()["sectors"]["items"]


def sector_codes() -> tuple[str, ...]:
    return tuple(item["code"] for item in sectors())


def critical_sectors() -> list[str]:
    """The sectors the catalog marks critical (the vendor-origin policy's default)."""
    return [item["code"] for item in sectors() if item.get("critical")]


def restricted_roles() -> list[str]:
    """Vendor roles the catalog marks restricted: planning, building, operating."""
    return [item["code"] for item in domain()["vendor_roles"]["items"] if item.get("restricted")]


def filing_required_from() -> int:
    return int(domain()["mlps_levels"].get("filing_required_from_level", 2))


def mlps() -> dict[str, Any]:
    return load("mlps-2.0-control-points")


def mlps_control_points() -> list[dict]:
    return mlps()["items"]


def control_levels(item: dict) -> list[int]:
    """The levels a control point applies to; level 5 takes level 4's points (the catalog's note)."""
    levels = list(item["applies_to_levels"])
    if 4 in levels and 5 not in levels:
        levels.append(5)
    return levels


def nist_csf() -> list[dict]:
    return load("nist-csf-2.0")["items"]


def label(kind: str, code: Any, lang: str) -> str:
    """The zh or en label of a catalog code, or the code itself when unknown."""
    found = labels(kind, lang).get(code)
    if found is not None:
        return found
    return "" if code is None else str(code)


@cache
def labels(kind: str, lang: str) -> Mapping[Any, str]:
    """Every code of a catalog list with its zh or en label (pages label dozens of rows)."""
    entries: list[dict] = {
        "sector": sectors(),
        "vendor_origin": domain()["vendor_origins"],
        "vendor_role": domain()["vendor_roles"]["items"],
        "data_level": domain()["data_levels"]["items"],
        "area": domain()["assessment_areas"]["items"],
        "mlps_level": domain()["mlps_levels"]["items"],
        "mlps_family": mlps()["families"],
    }.get(kind, [])
    key = "level" if kind == "mlps_level" else "code"
    found: dict[Any, str] = {}
    for entry in entries:
        found.setdefault(
            entry.get(key), entry.get("en" if lang == "en" else "zh") or entry.get("zh") or str(entry.get(key))
        )
    return MappingProxyType(found)
