"""The drills domain's HTTP API (bearer tokens): its blueprints, registered by drills/__init__.py."""

from drills.api import calendar

blueprints = (calendar.bp,)
