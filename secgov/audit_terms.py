"""The words of the audit log: what each recorded action, object type and detail field is called,
in every language, and which page shows an object. Declared once: the core's terms here, each
domain's in its `Domain.audit_terms`, the registers' actions from their declarations; the registry
merges them (`Registry.audit_vocabulary`) for the audit page and the API.

The recorded content is never touched: these words only change how entries are shown. An action
without a label is shown by its code, and `tests/test_audit_terms.py` fails for one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from secgov.authz import Actor, in_scope
from secgov.codes import N_, REASON_MESSAGES, _translations, current_language
from secgov.models import Department, User

# Object ids of one type -> the argument of the page that shows each (those the reader may see).
Locate = Callable[[Session, Actor, Sequence[str]], Mapping[str, Any]]


@dataclass(frozen=True)
class Phrase:
    """An English message marked with N_, whose %(name)s places are filled with N_-marked words."""

    message: str
    words: Mapping[str, str] = field(default_factory=dict)

    def text(self, lang: str | None = None) -> str:
        """The phrase in lang (default: the current language)."""
        gettext = _translations(lang or current_language()).gettext
        text = gettext(self.message)
        return text % {name: gettext(word) for name, word in self.words.items()} if self.words else text


@dataclass(frozen=True)
class ObjectKind:
    """A type of object entries name: its label, and the page of one such object (endpoint and the
    argument the object's id fills; `locate` turns ids into arguments, keeping those the reader
    may see, when the id is not the argument itself). No endpoint: no page."""

    label: str
    endpoint: str = ""
    argument: str = ""
    locate: Locate | None = None


@dataclass(frozen=True)
class FieldTerm:
    """A field of the entries' details: its label, and how its values read (the labels of a code
    list, known values' own labels, or a department named by its id or code)."""

    label: str
    codes: str = ""
    department: bool = False
    values: Mapping[str, str] = field(default_factory=dict)  # known values -> N_ labels


@dataclass(frozen=True)
class AuditTerms:
    """One package's words: actions (code -> label), groups (an action's first part -> label),
    object types and detail fields. A field may be declared for one object type only
    ("asset.status"), which wins over the field of every type ("status")."""

    actions: Mapping[str, str | Phrase] = field(default_factory=dict)
    groups: Mapping[str, str | Phrase] = field(default_factory=dict)
    objects: Mapping[str, ObjectKind] = field(default_factory=dict)
    fields: Mapping[str, FieldTerm] = field(default_factory=dict)


def _phrase(label: str | Phrase) -> Phrase:
    return label if isinstance(label, Phrase) else Phrase(label)


class Vocabulary:
    """Every package's audit terms together, asked by the audit page and API."""

    def __init__(self, terms: Iterable[AuditTerms]):
        self.actions: dict[str, Phrase] = {}
        self.groups: dict[str, Phrase] = {}
        self.objects: dict[str, ObjectKind] = {}
        self.fields: dict[str, FieldTerm] = {}
        for part in terms:
            self.actions.update({code: _phrase(label) for code, label in part.actions.items()})
            self.groups.update({code: _phrase(label) for code, label in part.groups.items()})
            self.objects.update(part.objects)
            self.fields.update(part.fields)
        # Where each field comes in a list of fields: the order of their declarations.
        self.field_order = {name: place for place, name in enumerate(self.fields)}

    def action_label(self, action: str, lang: str | None = None) -> str:
        """What an action is called; an undeclared one is shown by its code."""
        phrase = self.actions.get(action)
        return phrase.text(lang) if phrase else action

    def group_label(self, group: str, lang: str | None = None) -> str:
        phrase = self.groups.get(group)
        return phrase.text(lang) if phrase else group

    def object_label(self, object_type: str, lang: str | None = None) -> str:
        kind = self.objects.get(object_type)
        return _translations(lang or current_language()).gettext(kind.label) if kind else object_type

    def field(self, name: str, object_type: str = "") -> FieldTerm | None:
        """The term of a detail field, the object type's own first."""
        return self.fields.get(f"{object_type}.{name}") or self.fields.get(name)

    def field_label(self, name: str, object_type: str = "", lang: str | None = None) -> str:
        term = self.field(name, object_type)
        return _translations(lang or current_language()).gettext(term.label) if term else name

    def action_groups(self, lang: str | None = None) -> list[tuple[str, str, list[tuple[str, str]]]]:
        """The filter's choices: (group, its label, [(action, label)...]), each sorted by label."""
        grouped: dict[str, list[tuple[str, str]]] = {}
        for action in self.actions:
            grouped.setdefault(action.split(".", 1)[0], []).append((action, self.action_label(action, lang)))
        groups = [
            (group, self.group_label(group, lang), sorted(items, key=lambda i: i[1]))
            for group, items in grouped.items()
        ]
        return sorted(groups, key=lambda g: g[1])


# --- the core's terms ----------------------------------------------------------------------------


def _users(session: Session, actor: Actor, ids: Sequence[str]) -> Mapping[str, Any]:
    """User names (as recorded, any case) of users the reader may see -> their page's argument."""
    wanted = {i.lower(): i for i in ids}
    rows = session.exec(
        select(User.username).where(func.lower(User.username).in_(list(wanted)), in_scope(User.department_id, actor))
    ).all()
    return {wanted[name.lower()]: name for name in rows}


def _departments(session: Session, actor: Actor, ids: Sequence[str]) -> Mapping[str, Any]:
    rows = session.exec(select(Department.code).where(Department.code.in_(list(ids)), in_scope(Department.id, actor)))
    return {code: code for code in rows.all()}


def list_page(_session: Session, _actor: Actor, ids: Sequence[str]) -> Mapping[str, Any]:
    """For a page without argument (a list, the settings): every entry links to it."""
    return dict.fromkeys(ids)


def register_terms(registers: Iterable[Any]) -> AuditTerms:
    """The actions every register records, named after the register (`secgov.exchange.Register`)."""
    actions: dict[str, Phrase] = {}
    groups: dict[str, Phrase] = {}
    for register in registers:
        words = {"register": register.title}
        actions[f"{register.name}.imported"] = Phrase(N_("%(register)s imported from a file"), words)
        actions[f"{register.name}.import_undone"] = Phrase(N_("%(register)s import undone"), words)
        actions[f"{register.name}.exported"] = Phrase(N_("%(register)s exported to a file"), words)
        groups[register.name] = Phrase(N_("%(register)s: import and export"), words)
    return AuditTerms(actions=actions, groups=groups)


# The channels an actor acts through (`Actor.channel`).
CHANNELS = {"web": N_("Web"), "api": N_("API"), "cli": N_("Command line"), "job": N_("Scheduled job")}

# The reasons refusals record (other reasons are people's own words, shown as they are).
REASONS = {
    "credentials": N_("wrong user name or password"),
    "disabled": N_("account disabled"),
    "wrong_code": N_("wrong code"),
    "replayed": N_("code already used"),
    "password": N_("wrong password"),
    "expired": N_("the key had expired"),
    # The application's own history reasons, one list with the pages': secgov.codes.REASON.
    **REASON_MESSAGES,
}

CORE = AuditTerms(
    actions={
        "auth.login": N_("Signed in"),
        "auth.login_failed": N_("Sign-in failed"),
        "auth.login_throttled": N_("Sign-in blocked after too many failures"),
        "auth.mfa_failed": N_("Wrong two-factor code"),
        "auth.mfa_throttled": N_("Two-factor codes blocked after too many failures"),
        "auth.logout": N_("Signed out"),
        "auth.sign_out_everywhere": N_("Signed out everywhere"),
        "auth.token_rejected": N_("API token rejected"),
        "authz.denied": N_("Access denied"),
        "authz.out_of_scope": N_("Object outside the user's scope asked for"),
        "user.created": N_("User created"),
        "user.updated": N_("User changed"),
        "user.language_changed": N_("Interface language changed"),
        "user.password_changed": N_("Password changed"),
        "user.password_change_failed": N_("Password change refused: wrong password"),
        "user.password_change_throttled": N_("Password change blocked after too many failures"),
        "user.mfa_enabled": N_("Two-factor authentication turned on"),
        "user.mfa_disabled": N_("Two-factor authentication removed"),
        "user.mfa_enable_failed": N_("Two-factor set-up refused"),
        "user.mfa_enable_throttled": N_("Two-factor set-up blocked after too many failures"),
        "token.created": N_("API token created"),
        "token.revoked": N_("API token revoked"),
        "keys.rotated": N_("Data keys rotated"),
        "keys.plain_secrets_encrypted": N_("Stored secrets encrypted"),
        "setting.changed": N_("Setting changed"),
        "setting.denied": N_("Setting change refused"),
        "department.created": N_("Department created"),
        "department.updated": N_("Department changed"),
        "department.deleted": N_("Department deleted"),
        "responsibility.assigned": N_("Responsibility assigned"),
        "responsibility.corrected": N_("Responsibility corrected"),
        "responsibility.denied": N_("Assignment of a responsibility refused"),
        "appraisal.closed": N_("Appraisal period closed"),
        "appraisal.denied": N_("Closing of an appraisal period refused"),
        "audit.checkpoint": N_("Audit log checkpoint signed"),
    },
    groups={
        "auth": N_("Sign-in and sessions"),
        "authz": N_("Access control"),
        "user": N_("Users"),
        "token": N_("API tokens"),
        "keys": N_("Data keys"),
        "setting": N_("Settings"),
        "department": N_("Departments"),
        "responsibility": N_("Responsibilities"),
        "appraisal": N_("Appraisal"),
        "audit": N_("Audit log"),
    },
    objects={
        "user": ObjectKind(N_("User"), "admin.user_edit", "username", _users),
        "department": ObjectKind(N_("Department"), "admin.department_edit", "code", _departments),
        "setting": ObjectKind(N_("Setting"), "admin.settings_page", locate=list_page),
        "api_token": ObjectKind(N_("API token")),
        "data_keys": ObjectKind(N_("Data keys")),
        "city": ObjectKind(N_("The city")),
        "appraisal_period": ObjectKind(N_("Appraisal period")),
        "audit": ObjectKind(N_("Audit log")),
    },
    fields={
        "code": FieldTerm(N_("Code")),
        "name": FieldTerm(N_("Name")),
        "name_en": FieldTerm(N_("English name")),
        "stored_sha256": FieldTerm(N_("SHA-256 of what was stored")),
        "records": FieldTerm(N_("Records")),
        "weights": FieldTerm(N_("Weights")),
        "overall_score": FieldTerm(N_("Overall score")),
        "kind": FieldTerm(N_("Kind"), codes="department_kind"),
        "operator_kind": FieldTerm(N_("Operator kind"), codes="operator_kind"),
        "parent_id": FieldTerm(N_("Parent department"), department=True),
        "department_id": FieldTerm(N_("Department"), department=True),
        "department": FieldTerm(N_("Department"), department=True),
        "username": FieldTerm(N_("User name")),
        "display_name": FieldTerm(N_("Display name")),
        "email": FieldTerm(N_("E-mail")),
        "roles": FieldTerm(N_("Roles"), codes="role"),
        "disabled": FieldTerm(N_("Disabled")),
        "language": FieldTerm(N_("Language")),
        "mfa": FieldTerm(N_("Two-factor authentication")),
        "reason": FieldTerm(N_("Reason"), values=REASONS),
        "note": FieldTerm(N_("Note")),
        "owner": FieldTerm(N_("Owner")),
        "api_token.owner": FieldTerm(N_("Holder")),
        "user": FieldTerm(N_("User")),
        "duty": FieldTerm(N_("Duty")),
        "until": FieldTerm(N_("Until")),
        "corrects": FieldTerm(N_("Corrects the term")),
        "reset": FieldTerm(N_("Back to the default")),
        "keys": FieldTerm(N_("Settings")),
        "secrets": FieldTerm(N_("Secrets")),
        "endpoint": FieldTerm(N_("Page or endpoint")),
        "method": FieldTerm(N_("Method")),
        "path": FieldTerm(N_("Address")),
        "file": FieldTerm(N_("File")),
        "format": FieldTerm(N_("Format")),
        "rows": FieldTerm(N_("Rows")),
        "filters": FieldTerm(N_("Filters")),
        "created": FieldTerm(N_("Created")),
        "partial": FieldTerm(N_("Rows with problems skipped")),
        "rejected_rows": FieldTerm(N_("Rows refused")),
        "total_rows": FieldTerm(N_("Rows in the file")),
        "removed": FieldTerm(N_("Removed")),
        "kept": FieldTerm(N_("Kept")),
        "audit.seq": FieldTerm(N_("Last entry signed")),
        "audit.hash": FieldTerm(N_("Hash of the entry signed")),
        "audit.key_id": FieldTerm(N_("Signing key fingerprint")),
    },
)
