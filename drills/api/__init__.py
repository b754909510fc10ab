"""The drills domain's HTTP API (bearer tokens): drills, corrective actions and leaders' requests
for a drill; its blueprints, registered by drills/__init__.py."""

from drills.api import actions, calendar, drills, requests

blueprints = (drills.bp, actions.bp, requests.bp, calendar.bp)
