"""The scans domain: authorized nmap scans of the assets' network targets (fixed profiles, scan
authorizations, fragile assets and their maintenance windows, network zones and their agents),
the stored results, and the findings drawn from them. Its contributions to the app are declared
here."""

from scans import api, audit_terms, codes, findings, jobs, models, services
from secgov.registry import Domain

DOMAIN = Domain(
    name="scans",
    codes=codes.ALL,
    audit_terms=audit_terms.TERMS,
    jobs=jobs.JOBS,
    api_blueprints=api.blueprints,
)

__all__ = ["DOMAIN", "findings", "models", "services"]
