"""The role x route matrix's vocabulary, shared by the route lists of each package.

Each package lists its routes in tests/matrix_<package>.py as ROUTES; tests/test_authz_matrix.py
runs them all. Object kinds (`obj`) are resolved by the `world` fixture there: "dept", "user",
"token", "asset", "vendor", "engagement" (API form: "<asset>/vendors/<engagement>"),
"engagement_page" (pages: "<asset>/engagements/<engagement>"), "engagement_id", "exemption",
"assessment" (a finished draft), "assessment_submitted", "finding" ("<assessment>/findings/<finding>"),
"finding_id", "risk" (very low: an officer may accept it).
Every user of the world is in bureau "a"; "admin.city" (the root department) is the one who
succeeds on `city_only` routes.
A body value "{kind[in]}" (or out, missing) stands for that object's id, e.g. {"vendor_id": "{vendor[in]}"}.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from secgov.authz import AUTHENTICATED, PUBLIC  # noqa: F401 - re-exported for the route lists

ROLES = ("admin", "officer", "leader", "drill_team", "auditor")
ALL = frozenset(ROLES)
ADMIN = frozenset({"admin"})
AUDIT_READERS = frozenset({"admin", "auditor"})
ASSET_WRITERS = frozenset({"admin", "officer"})
APPROVERS = frozenset({"admin", "leader"})
SETTINGS_READERS = frozenset({"admin", "leader", "auditor"})


@dataclass(frozen=True)
class Route:
    endpoint: str
    method: str
    path: str  # with {obj} where the object goes
    access: object  # PUBLIC, AUTHENTICATED or a frozenset of roles
    obj: str | None = None
    form: dict = field(default_factory=dict)  # body for web forms / JSON for the API
    # Where the scope is in the body (create forms): the out-of-scope body and its answer.
    # Objects without a department have no out-of-scope case: set no_scope=True.
    out_of_scope_body: dict | None = None
    out_of_scope_status: int = 422
    no_scope: bool = False
    # The answer on an object of another department, and the audit action it leaves: 404 and
    # "authz.out_of_scope" for records only their scope sees; shared records (vendors) are read
    # by everyone (200, nothing audited) and changed only by their department (403, "vendor.denied").
    out_status: int = 404
    out_audit: str | None = "authz.out_of_scope"
    # City-wide settings: a role that may use the route is still refused (403, audited as
    # `city_only`) outside the city's root department; the root department's member succeeds.
    city_only: str | None = None
    # Files sent with the form as multipart/form-data (web and API): {field: (filename, content)}.
    files: dict = field(default_factory=dict)

    @property
    def api(self) -> bool:
        return self.path.startswith("/api/")

    def __str__(self) -> str:
        return f"{self.method} {self.endpoint}"
