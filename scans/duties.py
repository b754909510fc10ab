"""The scans domain's duty (secgov.accountability): an asset's scan owner, who answers for the
asset's scans and for triaging their findings in time. Nobody need be named: the asset's owner
answers unless someone is (`ANSWERS`, the duties in order of precedence that every reader of the
holder passes to secgov.responsibility). Assigned like the owner, by officers and admins in
their scope."""

from __future__ import annotations

from assets import duties as asset_duties
from secgov.codes import N_

SCAN_OWNER = "scan_owner"
# Who answers for an asset's scans and findings: its scan owner, else its owner.
DUTY, ANSWERS = asset_duties.falling_back(SCAN_OWNER, N_("Scan owner"))

DUTIES = (DUTY,)
