"""Web pages of the drills domain: its blueprints, registered by drills/__init__.py."""

from drills.views import calendar, pages

blueprints = (pages.bp, calendar.bp)
