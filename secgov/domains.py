"""The registry: the domain packages of SecGov, in menu order. A new domain is added here, and
nowhere else in the core; everything it contributes it declares in its own __init__.py."""

from __future__ import annotations

from functools import cache

import assessments
import assets
import drills
import scans
from secgov.registry import Registry


@cache
def registry() -> Registry:
    """Every domain's declaration. Read when the app is built, not when this module is imported:
    a domain package that is imported first imports the core, which imports this module while
    that domain is still being initialised."""
    return Registry((assets.DOMAIN, assessments.DOMAIN, scans.DOMAIN, drills.DOMAIN))
