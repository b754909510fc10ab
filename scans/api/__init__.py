"""The scans domain's JSON API: scan authorizations, scans (asked for, imported, read), their
findings, the assets' scan policies and scan schedules."""

from scans.api import authorizations, findings, scans, schedules

blueprints = (authorizations.bp, scans.bp, findings.bp, schedules.bp)
