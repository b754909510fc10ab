"""Web pages of the drills domain: one blueprint ("drills", /drills) whose routes live in pages
(the list, one drill, the plan form), actions (corrective actions) and planning (coverage and
requests for a drill); registered by drills/__init__.py."""

from drills.views import actions, calendar, pages, planning  # noqa: F401 - importing them adds their routes

blueprints = (pages.bp, calendar.bp)
