"""The scans domain's JSON API."""

from scans.api import schedules

blueprints = (schedules.bp,)
