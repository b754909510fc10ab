"""Code lists: each list of codes is declared once, and its Literal type, form choices, API enum
and zh/en labels all come from that declaration.

Labels come either from the domain catalogs (their zh and en texts, `CodeList.from_catalog`) or
from English messages translated through the message catalogue (`CodeList.of`, with `N_` marking
each message for extraction). The core's lists are here; a domain declares its own lists in its
package and hands them to the registry, which offers them all to the templates as `codes`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from types import MappingProxyType
from typing import Any, Literal

from babel.support import NullTranslations, Translations
from flask_babel import get_locale

from secgov import catalog
from secgov.config import LANGUAGES, TRANSLATIONS


def N_(message: str) -> str:  # noqa: N802 - the customary name of the extraction marker
    """Mark a message for extraction; it is translated where it is shown."""
    return message


@cache
def _translations(lang: str) -> NullTranslations:
    return Translations.load(str(TRANSLATIONS), [lang], "messages")


def current_language() -> str:
    """The language of the page or answer being made: "zh" or "en" ("zh" outside a request)."""
    locale = get_locale()
    return locale.language if locale and locale.language in LANGUAGES else "zh"


class CodeList:
    """One list of codes in a fixed order, each with a label in every language."""

    def __init__(self, name: str, labels: Mapping[str, Mapping[Any, str]]):
        self.name = name
        self._labels = {lang: dict(labels[lang]) for lang in LANGUAGES}
        self._views = {lang: MappingProxyType(table) for lang, table in self._labels.items()}
        self.codes: tuple = tuple(self._labels[LANGUAGES[0]])

    @classmethod
    def of(cls, name: str, messages: Mapping[Any, str]) -> CodeList:
        """Codes labelled by English messages (marked with N_), translated by the catalogue."""
        return cls(
            name,
            {lang: {code: _translations(lang).gettext(text) for code, text in messages.items()} for lang in LANGUAGES},
        )

    @classmethod
    def from_catalog(cls, name: str, items: Iterable[Mapping[str, Any]], key: str = "code") -> CodeList:
        """Codes of a domain catalog's list, labelled by the catalog's own zh and en texts."""
        items = list(items)
        return cls(
            name,
            {
                lang: {item[key]: item.get(lang) or item.get("zh") or str(item[key]) for item in items}
                for lang in LANGUAGES
            },
        )

    @property
    def literal(self) -> Any:
        """The Literal type of the codes, for schemas (pydantic checks it and the API documents it)."""
        return Literal[self.codes]

    def labels(self, lang: str | None = None) -> Mapping[Any, str]:
        """Every code with its label in lang (default: the current language); read-only."""
        return self._views[lang or current_language()]

    def label(self, code: Any, lang: str | None = None) -> str:
        """The label of one code; an unknown code is shown as it is."""
        if code is None:
            return ""
        return self._labels[lang or current_language()].get(code, str(code))

    def choices(self, lang: str | None = None) -> list[tuple[Any, str]]:
        """(code, label) pairs in the list's order, for a form's options."""
        return list(self.labels(lang).items())

    def __contains__(self, code: object) -> bool:
        return code in self._labels[LANGUAGES[0]]

    def __iter__(self) -> Iterator:
        return iter(self.codes)

    def __len__(self) -> int:
        return len(self.codes)

    def __repr__(self) -> str:
        return f"CodeList({self.name!r}, {self.codes!r})"


ROLE = CodeList.of(
    "role",
    {
        "admin": N_("Administrator"),
        "officer": N_("Security officer"),
        "leader": N_("Leadership"),
        "drill_team": N_("Drill team"),
        "auditor": N_("Auditor"),
    },
)
DEPARTMENT_KIND = CodeList.of("department_kind", {"city": N_("City"), "bureau": N_("Bureau"), "unit": N_("Unit")})
SECTOR = CodeList.from_catalog("sector", catalog.sectors())
MLPS_LEVEL = CodeList.from_catalog("mlps_level", catalog.domain()["mlps_levels"]["items"], key="level")
AREA = CodeList.from_catalog("area", catalog.domain()["assessment_areas"]["items"])
MLPS_FAMILY = CodeList.from_catalog("mlps_family", catalog.mlps()["families"])
# Who reports an incident within which deadline (a department's kind of network operator).
OPERATOR_KIND = CodeList.from_catalog("operator_kind", catalog.domain()["operator_kinds"]["items"])

# Reasons the application itself writes into histories (an owner's term, a grade, a removal):
# stored as these codes, shown in the reader's language. A reason a person typed is shown as typed.
REASON_MESSAGES = {
    "registered": N_("Registered"),
    "import undone": N_("Import undone"),
}
REASON = CodeList.of("reason", REASON_MESSAGES)

ROLES: tuple[str, ...] = ROLE.codes
CORE = (ROLE, DEPARTMENT_KIND, SECTOR, MLPS_LEVEL, AREA, MLPS_FAMILY, OPERATOR_KIND, REASON)


def reason_label(reason: str | None) -> str:
    """A history's reason for the reader: the application's own reasons translated, a person's
    words as they wrote them."""
    if not reason:
        return ""
    return REASON.label(reason) if reason in REASON.codes else reason
