"""The domain catalogs shipped with SecGov (secgov/catalogs/*.json): their entries and the facts
the rules read from them. Their codes and labels become code lists in `secgov.codes` and in the
domains' own `codes` modules."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

CATALOG_DIR = Path(__file__).parent / "catalogs"


@cache
def load(name: str) -> dict[str, Any]:
    """One catalog file, parsed once per process."""
    with open(CATALOG_DIR / f"{name}.json", encoding="utf-8") as handle:
        return json.load(handle)


def domain() -> dict[str, Any]:
    return load("domain")


def sectors() -> list[dict]:
    return domain()["sectors"]["items"]


def critical_sectors() -> list[str]:
    """The sectors the catalog marks critical (the vendor-origin policy's default)."""
    return [item["code"] for item in sectors() if item.get("critical")]


def vendor_roles() -> list[dict]:
    return domain()["vendor_roles"]["items"]


def restricted_roles() -> list[str]:
    """Vendor roles the catalog marks restricted: planning, building, operating."""
    return [item["code"] for item in vendor_roles() if item.get("restricted")]


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
