"""Web pages of the assessments domain: assessments and their workflow, the due list, the risk
register with its heat map."""

from assessments.views import assessments, risks

blueprints = (assessments.bp, risks.bp)
