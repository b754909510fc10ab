"""The asset domain's code lists: each declared once; schemas, forms, the API and the labels of
the pages all derive from these (see secgov.codes)."""

from __future__ import annotations

from babel import Locale

from secgov import catalog
from secgov.codes import N_, CodeList
from secgov.config import LANGUAGES

DATA_LEVEL = CodeList.from_catalog("data_level", catalog.domain()["data_levels"]["items"])
VENDOR_ORIGIN = CodeList.from_catalog("vendor_origin", catalog.domain()["vendor_origins"])
# The one origin never restricted by default: every other (foreign, joint venture) is.
DOMESTIC = "domestic"
VENDOR_ROLE = CodeList.from_catalog("vendor_role", catalog.vendor_roles())
# The roles the vendor-origin policy can restrict: planning, building, operating (SPEC §1).
RESTRICTABLE_VENDOR_ROLE = CodeList.from_catalog(
    "restrictable_vendor_role", [item for item in catalog.vendor_roles() if item.get("restricted")]
)
LIFECYCLE = CodeList.of(
    "lifecycle",
    {
        "planned": N_("Planned"),
        "building": N_("Being built"),
        "operational": N_("In operation"),
        "retired": N_("Retired"),
    },
)
MLPS_EXTENSION = CodeList.of(
    "mlps_extension",
    {
        "cloud": N_("Cloud computing"),
        "mobile": N_("Mobile internet"),
        "iot": N_("Internet of things"),
        "ics": N_("Industrial control systems"),
    },
)
CONTROL_STATUS = CodeList.of(
    "control_status",
    {
        "implemented": N_("Implemented"),
        "partial": N_("Partly implemented"),
        "planned": N_("Planned"),
        "not_implemented": N_("Not implemented"),
        "not_applicable": N_("Not applicable"),
    },
)
EXEMPTION_STATUS = CodeList.of(
    "exemption_status", {"pending": N_("Pending"), "approved": N_("Approved"), "rejected": N_("Rejected")}
)
POLICY_OUTCOME = CodeList.of(
    "policy_outcome", {"violation": N_("Violation"), "warning": N_("Warning"), "exempted": N_("Exempted")}
)


def _countries() -> CodeList:
    """ISO 3166 alpha-2 countries with their names in both languages, as babel knows them."""
    territories = {lang: Locale.parse("zh_Hans" if lang == "zh" else "en").territories for lang in LANGUAGES}
    codes = sorted(
        code
        for code in Locale("en").territories
        if len(code) == 2 and code.isalpha() and code.isupper() and code not in NOT_COUNTRIES
    )
    return CodeList(
        "country", {lang: {code: territories[lang].get(code, code) for code in codes} for lang in LANGUAGES}
    )


# Two-letter keys of babel's territory list that are groupings or placeholders, not countries.
NOT_COUNTRIES = frozenset({"EU", "EZ", "QO", "UN", "XA", "XB", "ZZ"})
COUNTRY = _countries()


def country_choices(lang: str | None = None) -> list[tuple[str, str]]:
    """(code, name) of every country in the reader's language, sorted by name."""
    return sorted(COUNTRY.choices(lang), key=lambda item: item[1])


ALL = (
    DATA_LEVEL,
    VENDOR_ORIGIN,
    VENDOR_ROLE,
    RESTRICTABLE_VENDOR_ROLE,
    LIFECYCLE,
    MLPS_EXTENSION,
    CONTROL_STATUS,
    EXEMPTION_STATUS,
    POLICY_OUTCOME,
    COUNTRY,
)
