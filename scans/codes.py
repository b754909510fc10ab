"""The scans domain's code lists, each declared once: schemas, forms, the API and the labels of
the pages derive from these (see secgov.codes)."""

from __future__ import annotations

from scans.profiles import PROFILES
from secgov.codes import N_, CodeList

# The fixed profiles, weakest first: their labels and options are scans.profiles'.
SCAN_PROFILE = CodeList.of("scan_profile", {code: profile.label for code, profile in PROFILES.items()})
PROFILE_RANK = {code: rank for rank, code in enumerate(SCAN_PROFILE.codes)}

SCAN_STATUS = CodeList.of(
    "scan_status",
    {
        "queued": N_("Queued"),
        "waiting": N_("Waiting for an agent"),
        "running": N_("Running"),
        "succeeded": N_("Succeeded"),
        "failed": N_("Failed"),
    },
)
SCAN_LIVE = ("queued", "waiting", "running")
SCAN_SOURCE = CodeList.of("scan_source", {"scan": N_("Scan"), "import": N_("Imported nmap XML")})

# Why a scan failed (also the reasons of the run that carried it).
SCAN_ERRORS = {
    "nmap_missing": N_("nmap is not installed on the worker."),
    "nmap_failed": N_("nmap stopped with an error."),
    "timeout": N_("The scan ran longer than its time limit and was stopped."),
    "refused": N_("The argument vector was refused before nmap started."),
    "not_authorized": N_("No valid scan authorization covered every target when the scan was to start."),
    "outside_window": N_("The asset's maintenance windows did not allow a scan to start then."),
    "xml_invalid": N_("nmap's output could not be read."),
    "asset_gone": N_("The asset was deleted or has no network targets any more."),
    "agent_lost": N_("The zone's agent did not report back."),
}
SCAN_ERROR = CodeList.of("scan_error", SCAN_ERRORS)

AUTHORIZATION_STATUS = CodeList.of(
    "authorization_status",
    {
        "pending": N_("Awaiting approval"),
        "approved": N_("Approved"),
        "rejected": N_("Rejected"),
        "revoked": N_("Revoked"),
    },
)

FINDING_KIND = CodeList.of(
    "finding_kind",
    {
        "new_open_port": N_("New open port"),
        "port_closed": N_("Port closed"),
        "service_changed": N_("Service changed"),
        "host_down": N_("Host down"),
        "unexpected_service": N_("Unexpected service"),
    },
)
FINDING_SEVERITY = CodeList.of("finding_severity", {"low": N_("Low"), "medium": N_("Medium"), "high": N_("High")})
SEVERITY_RANK = {"low": 1, "medium": 2, "high": 3}
FINDING_STATUS = CodeList.of(
    "finding_status",
    {
        "open": N_("Open"),
        "acknowledged": N_("Acknowledged"),
        "false_positive": N_("False positive"),
        "resolved": N_("Resolved"),
        "promoted": N_("Promoted to a risk"),
    },
)
# Findings not yet looked at, and those that hold back the same finding in later scans.
UNTRIAGED = ("open",)
HOLDING = ("open", "acknowledged", "false_positive", "promoted")

ALL = (
    SCAN_PROFILE,
    SCAN_STATUS,
    SCAN_SOURCE,
    SCAN_ERROR,
    AUTHORIZATION_STATUS,
    FINDING_KIND,
    FINDING_SEVERITY,
    FINDING_STATUS,
)
