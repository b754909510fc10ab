"""The audit log page and the chain check, for auditors and admins.

The page shows each entry as people read it: the action's name, who (display name and user
name), the object (linked to its page where the reader may open one), the time in the city's
zone, and the changed fields side by side. The recorded content itself is shown too, as it is
stored (folded), and is never changed: the words come from the registry's audit vocabulary."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, current_app, render_template, request, url_for
from flask_babel import gettext as _
from sqlmodel import Session

from secgov import audit, checkpoints
from secgov.audit import AuditFilter, list_entries
from secgov.audit_terms import CHANNELS, FieldTerm, Vocabulary
from secgov.authz import Actor, roles
from secgov.codes import current_language
from secgov.models import AuditEntry
from secgov.pages import int_arg
from secgov.web import actor, can, get_session, names, service_config

bp = Blueprint("audit", __name__, url_prefix="/audit")

PAGE_SIZE = 50


def problem_label(result: audit.Verification) -> str:
    """Why a chain check failed, in the reader's language."""
    labels = {
        "missing": _("Entry %(seq)d is missing.", seq=result.bad_seq or 0),
        "broken_link": _("The link to the previous entry is broken."),
        "hash_mismatch": _("The content does not match its hash."),
        "ends_before_head": _("The chain ends before the recorded head %(seq)d.", seq=result.bad_seq or 0),
        "head_mismatch": _("The recorded head does not match."),
        "ends_before_checkpoint": _(
            "The chain ends before entry %(seq)d, which a signed checkpoint recorded: its tail was removed.",
            seq=result.bad_seq or 0,
        ),
        "checkpoint_mismatch": _(
            "Entry %(seq)d differs from what a signed checkpoint recorded: the chain was rewritten.",
            seq=result.bad_seq or 0,
        ),
    }
    return labels.get(result.problem, result.reason)


def log_problem_label(result: checkpoints.CheckpointVerification) -> str:
    """Why the checkpoint log failed its check, in the reader's language."""
    labels = {
        "public_key_missing": _("The log holds signed checkpoints but the public key to check them is missing."),
        "public_key_unreadable": _("The checkpoints' public key cannot be read."),
        "log_unreadable": _("The checkpoint log cannot be read."),
        "malformed": _("Line %(line)d of the checkpoint log is not a checkpoint.", line=result.line or 0),
        "unknown_key": _("Line %(line)d of the checkpoint log was signed by another key.", line=result.line or 0),
        "bad_signature": _("Line %(line)d of the checkpoint log does not match its signature.", line=result.line or 0),
    }
    return labels.get(result.problem, result.reason)


@dataclass
class Change:
    """One field of an entry's details: before and after (None: that side was not recorded)."""

    label: str
    before: str | None
    after: str | None


@dataclass
class Row:
    """An audit entry as the page shows it."""

    entry: AuditEntry
    action: str
    name: str  # the actor's display name today ("" when none, or no user)
    channel: str
    object_label: str
    object_url: str | None
    changes: list[Change] = field(default_factory=list)
    sides: str = ""  # which sides the changes show: "both", "before" (a removal), "after"
    notes: list[Change] = field(default_factory=list)
    recorded: str = ""


def vocabulary() -> Vocabulary:
    return current_app.extensions["secgov_registry"].audit_vocabulary


@bp.get("")
@roles("auditor", "admin")
def index():
    """Audit entries in scope, newest first, filtered by actor, action and dates."""
    filters = AuditFilter.from_args(request.args)
    page = int_arg("page", 1)
    words = vocabulary()
    # The list offers actions by name: a named action is that action alone (a typed prefix, as
    # the API takes it, still matches every action it begins).
    exact = bool(filters.action) and filters.action in words.actions
    session = get_session()
    entries, total = list_entries(
        session, actor(), filters, service_config(), page=page, page_size=PAGE_SIZE, exact_action=exact
    )
    rows = describe(session, actor(), entries, words)
    groups = words.action_groups()
    offered = {f"{group}." for group, _label, _actions in groups} | set(words.actions)
    return render_template(
        "audit/index.html",
        rows=rows,
        total=total,
        page=page,
        page_size=PAGE_SIZE,
        filters=filters,
        action_groups=groups,
        # A prefix typed into the address (as the API takes it) stays offered as it is.
        other_action=filters.action if filters.action and filters.action not in offered else "",
    )


def describe(session: Session, reader: Actor, entries: list[AuditEntry], words: Vocabulary) -> list[Row]:
    """The page's rows: entries with their words, people, links and readable details, in a fixed
    number of queries (the request's names of people and departments, one per object type)."""
    details = {e.seq: _loads(e.detail) for e in entries}
    book = names()
    # Names of departments in the reader's scope only; another department stays the code recorded.
    departments = {
        ref: book.department(ref) for ref in _department_refs(entries, details, words) if book.in_scope(ref, reader)
    }
    links = _links(session, reader, entries, words)
    lang = current_language()
    rows = []
    for entry in entries:
        detail = details[entry.seq]
        name = book.person(entry.actor)
        show = _Shower(words, entry.object_type, departments, lang)
        before, after = detail.get("before"), detail.get("after")
        changes, sides = _changes(show, before, after)
        rest = {k: v for k, v in detail.items() if k not in ("before", "after") or not isinstance(v, dict)}
        rows.append(
            Row(
                entry=entry,
                action=words.action_label(entry.action, lang),
                name=name if name and name != entry.actor else "",
                channel=_(CHANNELS[entry.channel]) if entry.channel in CHANNELS else entry.channel,
                object_label=words.object_label(entry.object_type, lang) if entry.object_type else "",
                object_url=links.get((entry.object_type, entry.object_id)),
                changes=changes,
                sides=sides,
                notes=[Change(show.label(k), None, show.value(k, rest[k])) for k in show.ordered(rest)],
                recorded=json.dumps(detail, ensure_ascii=False, indent=1, sort_keys=True) if detail else "",
            )
        )
    return rows


def _loads(text: str | None) -> dict:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {"detail": text}
    return value if isinstance(value, dict) else {"detail": value}


def _changes(show: _Shower, before: Any, after: Any) -> tuple[list[Change], str]:
    """The fields of before/after in the vocabulary's order (names first): side by side, the
    unchanged ones left out, when both were recorded; else the one side (a creation, a removal)."""
    before = before if isinstance(before, dict) else None
    after = after if isinstance(after, dict) else None
    if before is not None and after is not None:
        keys = show.ordered([*after, *(k for k in before if k not in after)])
        changed = [k for k in keys if before.get(k) != after.get(k)]
        return [
            Change(show.label(k), show.value(k, before.get(k)), show.value(k, after.get(k))) for k in changed
        ], "both"
    if after is not None:
        return [Change(show.label(k), None, show.value(k, after[k])) for k in show.ordered(after)], "after"
    if before is not None:
        return [Change(show.label(k), show.value(k, before[k]), None) for k in show.ordered(before)], "before"
    return [], ""


class _Shower:
    """The words of one entry's fields and values in the reader's language."""

    def __init__(self, words: Vocabulary, object_type: str, departments: dict, lang: str):
        self.words, self.object_type, self.departments, self.lang = words, object_type, departments, lang
        self.codes = current_app.extensions["secgov_registry"].codes

    def ordered(self, keys: Iterable[str]) -> list[str]:
        """Keys in the order the vocabulary declares their fields; the others after, as they came."""
        place = self.words.field_order
        keys = list(keys)
        return sorted(keys, key=lambda k: (place.get(k, len(place)), keys.index(k)))

    def label(self, key: str) -> str:
        return self.words.field_label(key, self.object_type, self.lang)

    def value(self, key: str, value: Any) -> str:
        return self._text(value, self.words.field(key, self.object_type))

    def _text(self, value: Any, term: FieldTerm | None) -> str:
        if value is None or value == "" or value == [] or value == {}:
            return "—"
        if isinstance(value, bool):
            return _("Yes") if value else _("No")
        if isinstance(value, list):
            return ", ".join(self._text(item, term) for item in value)
        if isinstance(value, dict):
            return "; ".join(
                f"{self._key(k, term)}: {self._text(v, self.words.field(k, self.object_type))}"
                for k, v in value.items()
            )
        if term is not None:
            if term.department and (value in self.departments):
                return self.departments[value]
            if isinstance(value, str) and value in term.values:
                return _(term.values[value])
            if term.codes and hasattr(self.codes, term.codes):
                return getattr(self.codes, term.codes).label(value, self.lang)
        return str(value)

    def _key(self, key: str, term: FieldTerm | None) -> str:
        # The keys of a counted code list ("warning": 2) are its codes; else they are fields.
        if (
            term is not None
            and term.codes
            and hasattr(self.codes, term.codes)
            and key in getattr(self.codes, term.codes)
        ):
            return getattr(self.codes, term.codes).label(key, self.lang)
        return self.label(key)


def _department_refs(entries: list[AuditEntry], details: dict[int, dict], words: Vocabulary) -> set:
    """The ids and codes of departments the details name in department fields."""
    found: set = set()

    def walk(key: str, value: Any, object_type: str) -> None:
        term = words.field(key, object_type)
        if isinstance(value, dict):
            for k, v in value.items():
                walk(k, v, object_type)
        elif isinstance(value, list):
            for item in value:
                walk(key, item, object_type)
        elif term is not None and term.department and isinstance(value, int | str) and not isinstance(value, bool):
            found.add(value)

    for entry in entries:
        for key, value in details[entry.seq].items():
            walk(key, value, entry.object_type)
    return found


def _links(session: Session, reader: Actor, entries: Iterable[AuditEntry], words: Vocabulary) -> dict:
    """(object type, object id) -> the page of that object, for those the reader may open."""
    wanted: dict[str, set[str]] = {}
    for entry in entries:
        if entry.object_type and entry.object_id:
            wanted.setdefault(entry.object_type, set()).add(entry.object_id)
    links = {}
    for object_type, ids in wanted.items():
        kind = words.objects.get(object_type)
        if kind is None or not kind.endpoint or not can(kind.endpoint):
            continue
        located = kind.locate(session, reader, sorted(ids)) if kind.locate else {i: i for i in ids}
        for object_id, argument in located.items():
            arguments = {kind.argument: argument} if kind.argument else {}
            links[(object_type, object_id)] = url_for(kind.endpoint, **arguments)
    return links


@bp.get("/verify")
@roles("auditor", "admin")
def verify():
    """Check the whole chain and show the result with the current head."""
    checked = checkpoints.verify_checkpoints(
        get_session(), checkpoints.CheckpointFiles.from_mapping(current_app.config)
    )
    return render_template(
        "audit/verify.html",
        result=checked.chain,
        reason=problem_label(checked.chain),
        checkpoints=checked,
        log_reason=log_problem_label(checked) if checked.problem else "",
    )
