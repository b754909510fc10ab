"""The assessments domain's background work: "assessments.daily", the daily upkeep of assessments
and the risk register, in the one scheduler (its built-in schedule: 06:00 in the city's time
zone). One run, as the system, for the whole city and for one day (today in the city's time
zone, or the day its parameters name):

1. Acceptances that have expired end and their risks reopen (`risks.expire_acceptances`, audited
   there, risk by risk).
2. What has newly fallen overdue is marked, once: each required assessment past its due date
   ("assessment.overdue" on the asset, with the kind and the due date), each risk whose treatment
   is late ("risk.treatment_overdue", with the treatment's due date) and each risk whose review is
   late ("risk.review_overdue", with the date the review was due). The audit log is the record of
   what was marked: an item is marked when no entry of the same action names the same object with
   the same kind and date; a new due date (a later assessment, a new treatment date, a review)
   makes a new item.
3. When e-mail is configured, reminders: one message per person per run listing their items with
   a link to each — to the asset's owner for each assessment due soon or overdue, to the risk's
   owner for each late treatment or review, to the leaders in scope of each acceptance ending
   within `risks.EXPIRING_DAYS` days. Each item goes to each person once (once more for an
   assessment when it turns from due soon to overdue): "assessment.reminded" and "risk.reminded"
   record who got it. Without e-mail, steps 1 and 2 are done and the result says no reminder was
   sent; when the mail server fails, those sent so far are recorded and the run fails with the
   reason (the rest go with the next run).

Running it again on the same day marks nothing and sends nothing more."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, select
from werkzeug.routing import BuildError

from assessments import risks, rule, schedule
from assessments.codes import ASSESSMENT_KIND, DUE_STATE, LIVE_STATUSES, RISK_LEVEL
from assessments.models import Risk, RiskAcceptance
from assets.models import Asset
from secgov import audit, mail, responsibility, snapshots
from secgov.authz import Actor
from secgov.codes import N_
from secgov.config import LANGUAGES, ServiceConfig
from secgov.db import chunks, new_session, write_session
from secgov.models import AuditEntry, Department, User
from secgov.reports.scheduled import leaders_in_scope, public_url
from secgov.runs import JobContext, JobFailed, JobKind

CODE = "assessments.daily"
DEFAULT_SCHEDULE = "0 6 * * *"  # 06:00 every day, in the city's time zone

# The audit actions it records (named outright where they are recorded, for the vocabulary's scan).
OVERDUE = "assessment.overdue"
TREATMENT_OVERDUE = "risk.treatment_overdue"
REVIEW_OVERDUE = "risk.review_overdue"
ASSESSMENT_REMINDED = "assessment.reminded"
RISK_REMINDED = "risk.reminded"

# What a reminder about a risk is about (the `reason` of its "risk.reminded" entry).
TREATMENT, REVIEW, EXPIRING = "treatment_overdue", "review_overdue", "acceptance_expiring"
# (their labels: `codes.REMINDER_REASON`)


class DailyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day: date | None = Field(default=None, description=N_("Day (default: today)"))


# --- what was marked and reminded already --------------------------------------------------------


def _entries(session: Session, actions: Sequence[str], object_type: str, ids: Iterable[int]) -> list[tuple]:
    """(action, object id, detail) of the audit entries of these actions naming these objects."""
    wanted = sorted({str(i) for i in ids})
    found = []
    for chunk in chunks(wanted):
        for action, object_id, detail in session.exec(
            select(AuditEntry.action, AuditEntry.object_id, AuditEntry.detail).where(
                AuditEntry.action.in_(list(actions)),
                AuditEntry.object_type == object_type,
                AuditEntry.object_id.in_(chunk),
            )
        ).all():
            try:
                found.append((action, int(object_id), json.loads(detail or "{}")))
            except ValueError:
                continue
    return found


# --- the items of a day --------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One thing that needs someone's attention: an asset's required assessment (`kind` one of the
    assessment kinds, `state` due_soon or overdue) or a risk's treatment, review or acceptance
    (`kind` one of codes.REMINDER_REASON). `on` is its date: due, review due, or acceptance's end."""

    object_type: str  # "asset" or "risk"
    object_id: int
    kind: str
    on: date
    state: str
    department_id: int
    asset_code: str
    title: str  # the asset's name, or the risk's title
    asset_id: int = 0
    level: str = ""
    recipients: tuple[int, ...] = ()  # user ids

    @property
    def key(self) -> tuple:
        return (self.object_type, self.object_id, self.kind, self.on.isoformat(), self.state)


def assessments_due(session: Session, method: rule.Method, today: date) -> list[Item]:
    """Every required assessment due soon or overdue, with its asset's owner as recipient."""
    found = [
        (s, s.due.state(today, method.soon_days))
        for s in schedule.schedule(session, schedule.assessed_assets(session), method)
    ]
    found = [(s, state) for s, state in found if state in ("due_soon", "overdue")]
    owners = responsibility.holders(session, "asset", {s.asset.id for s, _state in found}, "owner")
    return [
        Item(
            "asset",
            s.asset.id,
            s.due.kind,
            s.due.due_on,
            state,
            s.asset.department_id,
            s.asset.code,
            s.asset.name,
            asset_id=s.asset.id,
            recipients=(owners[s.asset.id].id,) if s.asset.id in owners else (),
        )  # fmt: skip
        for s, state in found
    ]


def risks_late(session: Session, method: rule.Method, today: date) -> list[Item]:
    """Every late treatment and late review of a risk, with the risk's owner as recipient."""
    rows = session.exec(
        select(Risk, Asset.department_id, Asset.code)
        .join(Asset, Asset.id == Risk.asset_id)
        .where(Risk.status != "closed")
    ).all()
    owners = responsibility.holders(session, risks.SUBJECT, [r.id for r, _d, _c in rows], risks.OWNER)
    items = []
    for risk, department_id, code in rows:
        recipients = (owners[risk.id].id,) if risk.id in owners else ()
        common = {
            "department_id": department_id,
            "asset_code": code,
            "title": risk.title,
            "asset_id": risk.asset_id,
            "level": risk.level,
        }
        if risk.status in LIVE_STATUSES and risk.due_date is not None and risk.due_date < today:
            items.append(Item("risk", risk.id, TREATMENT, risk.due_date, "overdue", recipients=recipients, **common))
        upcoming = risks.next_review(risk, method)
        if upcoming is not None and upcoming < today:
            items.append(Item("risk", risk.id, REVIEW, upcoming, "overdue", recipients=recipients, **common))
    return items


def acceptances_ending(session: Session, today: date) -> list[Item]:
    """Every acceptance in force that ends within EXPIRING_DAYS days, with the leaders in scope of
    its risk's asset as recipients."""
    soon = today + timedelta(days=risks.EXPIRING_DAYS)
    rows = session.exec(
        select(RiskAcceptance, Risk, Asset.department_id, Asset.code)
        .join(Risk, Risk.id == RiskAcceptance.risk_id)
        .join(Asset, Asset.id == Risk.asset_id)
        .where(RiskAcceptance.status == "active", RiskAcceptance.expires_on > today, RiskAcceptance.expires_on <= soon)
    ).all()
    leaders: dict[int, tuple[int, ...]] = {}
    items = []
    for acceptance, risk, department_id, code in rows:
        if department_id not in leaders:
            department = session.get(Department, department_id)
            leaders[department_id] = tuple(u.id for u in leaders_in_scope(session, department))
        items.append(
            Item(
                "risk",
                risk.id,
                EXPIRING,
                acceptance.expires_on,
                "due_soon",
                department_id,
                code,
                risk.title,
                asset_id=risk.asset_id,
                level=risk.level,
                recipients=leaders[department_id],
            )  # fmt: skip
        )
    return items


# --- marking what has newly fallen overdue --------------------------------------------------------


def mark_overdue(session: Session, actor: Actor, method: rule.Method, today: date) -> dict[str, int]:
    """Mark, once each, the required assessments overdue and the risks whose treatment or review
    is late (see the module's docstring); returns how many of each were newly marked."""
    due = [i for i in assessments_due(session, method, today) if i.state == "overdue"]
    late = risks_late(session, method, today)
    marked = {
        ("asset", object_id, detail.get("kind", ""), detail.get("due_on", ""))
        for _action, object_id, detail in _entries(session, [OVERDUE], "asset", {i.object_id for i in due})
    }
    for action, object_id, detail in _entries(
        session, [TREATMENT_OVERDUE, REVIEW_OVERDUE], "risk", {i.object_id for i in late}
    ):
        kind = TREATMENT if action == TREATMENT_OVERDUE else REVIEW
        marked.add(("risk", object_id, kind, detail.get("due_on", "")))
    events = []
    counts = {"assessments_overdue": 0, "treatments_overdue": 0, "reviews_overdue": 0}
    for item in [*due, *late]:
        if (item.object_type, item.object_id, item.kind, item.on.isoformat()) in marked:
            continue
        where = (item.object_type, item.object_id, item.department_id)
        if item.object_type == "asset":
            counted = "assessments_overdue"
            extra = {"asset": item.asset_code, "kind": item.kind, "due_on": item.on}
            events.append(audit.Event("assessment.overdue", *where, extra=extra))
        elif item.kind == TREATMENT:
            counted = "treatments_overdue"
            extra = {"asset": item.asset_code, "level": item.level, "due_on": item.on}
            events.append(audit.Event("risk.treatment_overdue", *where, extra=extra))
        else:
            counted = "reviews_overdue"
            extra = {"asset": item.asset_code, "level": item.level, "due_on": item.on}
            events.append(audit.Event("risk.review_overdue", *where, extra=extra))
        counts[counted] += 1
    audit.record_many(session, actor, events)
    return counts


# --- reminders -----------------------------------------------------------------------------------


@dataclass
class Letter:
    """One person's reminder: their items, and the message in their language."""

    user_id: int
    username: str
    name: str
    email: str
    language: str | None
    items: list[Item] = field(default_factory=list)
    subject: str = ""
    body: str = ""


def reminded(session: Session, items: Sequence[Item]) -> set[tuple]:
    """(item key, user id) of every reminder already sent about these items."""
    done: set[tuple] = set()
    assets = [i.object_id for i in items if i.object_type == "asset"]
    for _action, object_id, detail in _entries(session, [ASSESSMENT_REMINDED], "asset", assets):
        key = ("asset", object_id, detail.get("kind", ""), detail.get("due_on", ""), detail.get("state", ""))
        done.update((key, user_id) for user_id in detail.get("recipient_ids", []))
    risk_ids = [i.object_id for i in items if i.object_type == "risk"]
    for _action, object_id, detail in _entries(session, [RISK_REMINDED], "risk", risk_ids):
        key = ("risk", object_id, detail.get("reason", ""), detail.get("due_on", ""), detail.get("state", ""))
        done.update((key, user_id) for user_id in detail.get("recipient_ids", []))
    return done


def letters(session: Session, items: Sequence[Item]) -> tuple[list[Letter], int]:
    """The letters of the items not yet sent to their recipients, one per person with an e-mail
    address (active users only); and how many people would have had one but have no address."""
    done = reminded(session, items)
    wanted: dict[int, list[Item]] = {}
    for item in items:
        for user_id in item.recipients:
            if (item.key, user_id) not in done:
                wanted.setdefault(user_id, []).append(item)
    if not wanted:
        return [], 0
    users = {u.id: u for u in session.exec(select(User).where(User.id.in_(list(wanted)), User.disabled.is_(False)))}
    made, no_address = [], 0
    for user_id in sorted(wanted):
        user = users.get(user_id)
        if user is None:
            continue
        if not user.email:
            no_address += 1
            continue
        name = user.display_name or user.username
        made.append(Letter(user.id, user.username, name, user.email, user.language, wanted[user_id]))
    return made, no_address


def item_link(base: str, item: Item) -> str:
    """The absolute address where a reminder's item is seen: the asset's page (its assessment
    calendar) for an assessment, the risk's page for a risk (its asset's page in an installation
    without the risk pages)."""
    parts = urlsplit(base)
    adapter = current_app.url_map.bind(parts.netloc, script_name=parts.path or "/", url_scheme=parts.scheme)
    if item.object_type == "risk":
        try:
            return adapter.build("risks.detail", {"risk_id": item.object_id}, force_external=True)
        except BuildError:
            pass
    return adapter.build("assets.detail", {"asset_id": item.asset_id}, force_external=True)


def _line(item: Item, link: str) -> str:
    if item.object_type == "asset":
        return _(
            "%(asset)s %(name)s: %(kind)s, due on %(date)s (%(state)s)\n  %(link)s",
            asset=item.asset_code,
            name=item.title,
            kind=ASSESSMENT_KIND.label(item.kind),
            date=item.on.isoformat(),
            state=DUE_STATE.label(item.state),
            link=link,
        )
    what = {
        TREATMENT: _("treatment due on %(date)s", date=item.on.isoformat()),
        REVIEW: _("review due on %(date)s", date=item.on.isoformat()),
        EXPIRING: _("accepted until %(date)s", date=item.on.isoformat()),
    }[item.kind]
    return _(
        "Risk #%(id)d %(title)s (%(level)s, %(asset)s): %(what)s\n  %(link)s",
        id=item.object_id,
        title=item.title,
        level=RISK_LEVEL.label(item.level),
        asset=item.asset_code,
        what=what,
        link=link,
    )


SECTIONS = (
    ("asset", None, N_("Assessments due")),
    ("risk", TREATMENT, N_("Risk treatments overdue")),
    ("risk", REVIEW, N_("Risk reviews overdue")),
    ("risk", EXPIRING, N_("Risk acceptances ending soon")),
)


def write(letter: Letter, lang: str, base: str, day: date) -> None:
    """The letter's subject and body in lang: its items by section, each with its link."""
    with force_locale(lang):
        letter.subject = ngettext(
            "SecGov: %(num)d item needs your attention",
            "SecGov: %(num)d items need your attention",
            len(letter.items),
        )
        parts = [
            _("Hello %(name)s,", name=letter.name),
            _(
                "These items in SecGov's assessments and risk register are yours to look after (%(day)s):",
                day=day.isoformat(),
            ),
        ]
        for object_type, kind, heading in SECTIONS:
            chosen = [i for i in letter.items if i.object_type == object_type and (kind is None or i.kind == kind)]
            if chosen:
                lines = [f"- {_line(i, item_link(base, i))}" for i in chosen]
                parts.append("\n".join([_(heading), *lines]))
        parts.append(_("You are told about each item once. Sign in to SecGov to see all that is due."))
        letter.body = "\n\n".join(parts) + "\n"


def record_reminded(engine, actor: Actor, sent: Sequence[Letter]) -> int:
    """Audit, item by item, to whom its reminder went (user names and ids); returns the items."""
    by_item: dict[tuple, tuple[Item, list[Letter]]] = {}
    for letter in sent:
        for item in letter.items:
            by_item.setdefault(item.key, (item, []))[1].append(letter)
    if not by_item:
        return 0
    events = []
    for item, got in by_item.values():
        detail: dict[str, Any] = {
            "asset": item.asset_code,
            "due_on": item.on,
            "state": item.state,
            "recipients": [letter.username for letter in got],
            "recipient_ids": [letter.user_id for letter in got],
        }
        if item.object_type == "asset":
            events.append(audit.Event("assessment.reminded", "asset", item.object_id, item.department_id,
                                      extra={**detail, "kind": item.kind}))  # fmt: skip
        else:
            events.append(audit.Event("risk.reminded", "risk", item.object_id, item.department_id,
                                      extra={**detail, "reason": item.kind}))  # fmt: skip
    with write_session(engine) as session:
        audit.record_many(session, actor, events)
    return len(by_item)


# --- the run -------------------------------------------------------------------------------------


def daily(ctx: JobContext) -> dict:
    """Expire acceptances, mark what is newly overdue, and remind (see the module's docstring)."""
    params: DailyParams = ctx.params  # type: ignore[assignment]
    today = snapshots.local_today(str(ctx.config.get("BABEL_DEFAULT_TIMEZONE") or "Asia/Shanghai"))
    day = params.day or today
    if day > today:
        raise JobFailed("future_day", f"{day} is after today ({today})")
    actor = Actor.system("job")
    config = ServiceConfig.from_mapping(ctx.config)
    result: dict[str, Any] = {"day": day.isoformat()}
    with write_session(ctx.engine) as session:
        reopened = risks.expire_acceptances(session, actor, day)
    result["risks_reopened"] = len(reopened)
    ctx.progress(1, 3)
    with write_session(ctx.engine) as session:
        method = rule.method(session, config)
        result.update(mark_overdue(session, actor, method, day))
    ctx.progress(2, 3)
    settings = mail.MailSettings.from_mapping(ctx.config)
    result.update(mail="sent" if settings.enabled else "off", letters=0, items_reminded=0, no_address=0)
    if settings.enabled:
        remind(ctx, settings, actor, method, day, result)
    ctx.progress(3, 3)
    return result


def remind(
    ctx: JobContext, settings: mail.MailSettings, actor: Actor, method: rule.Method, day: date, result: dict
) -> None:
    """Send each person their letter; record who got what, also when the server fails halfway."""
    with new_session(ctx.engine, write=False) as session:
        items = [
            *assessments_due(session, method, day),
            *risks_late(session, method, day),
            *acceptances_ending(session, day),
        ]
        made, no_address = letters(session, items)
    default = str(ctx.config.get("BABEL_DEFAULT_LOCALE") or "zh")
    base = public_url(ctx.config)
    result["no_address"] = no_address
    sent: list[Letter] = []
    refused: list[str] = []
    try:
        for letter in made:
            write(letter, letter.language if letter.language in LANGUAGES else default, base, day)
            try:
                mail.send(settings, [letter.email], letter.subject, letter.body)
            except mail.MailFailed as exc:
                if exc.problem in ("bad_address", "recipient_refused"):
                    refused.append(letter.username)  # this person only: the others still get theirs
                    continue
                result.update(mail="failed", letters=len(sent))
                raise JobFailed(f"mail_{exc.problem}", exc.detail, result=result) from None
            sent.append(letter)
    finally:
        result["items_reminded"] = record_reminded(ctx.engine, actor, sent)
        result["letters"] = len(sent)
        if refused:
            result["refused"] = refused


DAILY = JobKind(
    code=CODE,
    label=N_("Daily upkeep of assessments and risks"),
    run=daily,
    params=DailyParams,
    max_seconds=1800,
    roles=frozenset({"admin"}),
    schedulable=True,
    city_wide=True,
    default_schedule=DEFAULT_SCHEDULE,
    on_failure="mail.alert",
    reasons={
        "future_day": N_("The daily upkeep cannot be done for a day that has not come yet."),
        **{f"mail_{code}": message for code, message in mail.PROBLEMS.items()},
    },
    result_template="assessments/_daily_result.html",
    result_labels={
        "day": N_("Day"),
        "risks_reopened": N_("Risks reopened (acceptance expired)"),
        "assessments_overdue": N_("Assessments newly overdue"),
        "treatments_overdue": N_("Risk treatments newly overdue"),
        "reviews_overdue": N_("Risk reviews newly overdue"),
        "mail": N_("E-mail"),
        "letters": N_("Reminders sent"),
        "items_reminded": N_("Items reminded"),
        "no_address": N_("People without an e-mail address"),
        "refused": N_("Addresses refused"),
    },
)

JOBS: tuple[JobKind, ...] = (DAILY,)
