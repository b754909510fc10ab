"""The scans domain's JSON API: scan authorizations, scans (asked for, imported, read), their
findings, and the assets' scan policies."""

from scans.api import authorizations, findings, scans

blueprints = (authorizations.bp, scans.bp, findings.bp)
