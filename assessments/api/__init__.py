"""The assessments domain's JSON API: assessments and their due dates, the risk register."""

from assessments.api import assessments, risks

blueprints = (assessments.bp, risks.bp)
