"""The drills domain's background work: "drills.daily", in the one scheduler (its built-in schedule:
06:30 in the city's time zone; admins may change it on the schedules page). One run, as the
system, for the whole city:

1. Corrective actions newly overdue escalate (`actions.escalate`, audited there: the owner and the
   owner's department head are named), once per action.
2. When e-mail is configured, reminders, each once (`DrillNotice`):
   - a drill planned to start within the next `AHEAD` (two days) → its lead and the users taking
     part, once per drill and planned start (a drill moved to another time is reminded again);
   - an overdue corrective action → its owner and the owner's department head (the holder of the
     duty "head" of the department, if one is assigned), once per action and due date (a new due
     date that is missed again is reminded again).
   Each message goes to one person, in their language, with a link to the drill or action; each
   item sent is recorded as a `DrillNotice` and audited ("drill.reminded",
   "corrective_action.reminded", naming who got it). People without an e-mail address, and
   disabled users, get nothing; an item none of whose people could be written to stays unsent
   (it goes out once someone has an address). An address the server refuses is skipped (the
   others still get theirs); when the server fails, the items sent so far are recorded and the
   run fails with the reason (the rest go with the next run, possibly to someone of the item that
   was being sent twice).
   Without e-mail, step 1 is done and the result says no reminder was sent; nothing is recorded as
   sent, so the reminders go out once e-mail is configured (if they still apply).

Why one daily run, not an hourly one: "within the next two days" seen at 06:30 reminds every drill
at least a day ahead (a drill at 09:00 on Wednesday is reminded on Monday or Tuesday morning), in
the morning when people read their mail, and one schedule is one thing less to watch. A drill
planned at shorter notice than the next morning's run is not reminded: whoever plans it that late
tells the people themselves (and their calendar feeds show it within the hour).

Running it again finds nothing new to escalate and nothing new to send."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from sqlalchemy import Engine
from sqlmodel import Session, select

from drills import actions, ics, rule, services
from drills.codes import ACTION_OPEN
from drills.models import CorrectiveAction, Drill, DrillNotice, DrillParticipant
from secgov import audit, localtime, mail, responsibility
from secgov.authz import Actor
from secgov.codes import N_
from secgov.config import LANGUAGES, ServiceConfig
from secgov.db import new_session, write_session
from secgov.models import User
from secgov.reports.scheduled import public_url
from secgov.runs import JobContext, JobFailed, JobKind, NoParams

CODE = "drills.daily"
DEFAULT_SCHEDULE = "30 6 * * *"  # 06:30 every day, in the city's time zone
# Drills starting within this time from the run are reminded.
AHEAD = timedelta(days=2)
DRILL, ACTION = "drill", "action"


def now_utc() -> datetime:
    """The run's clock (tests freeze it)."""
    return datetime.now(UTC).replace(microsecond=0)


@dataclass(frozen=True)
class Item:
    """One reminder to send: a drill about to start or an overdue action, to its people."""

    kind: str  # DRILL | ACTION
    object_id: int
    occasion: str  # the planned start (ISO, UTC) or the due date (ISO)
    department_id: int
    title: str
    recipients: tuple[int, ...]  # user ids, the lead or owner first
    start: datetime | None = None  # a drill's planned start
    minutes: int = 0
    due: date | None = None  # an action's due date
    drill_title: str = ""
    owner_id: int = 0


def _sent(session: Session, kind: str, ids: list[int]) -> set[tuple[int, str]]:
    if not ids:
        return set()
    return set(
        session.exec(
            select(DrillNotice.object_id, DrillNotice.occasion).where(
                DrillNotice.kind == kind, DrillNotice.object_id.in_(ids)
            )
        ).all()
    )


def drills_soon(session: Session, now: datetime) -> list[Item]:
    """Planned drills starting after now and within AHEAD, not yet reminded for that start."""
    rows = session.exec(
        select(Drill)
        .where(Drill.status == "planned", Drill.planned_start > now, Drill.planned_start <= now + AHEAD)
        .order_by(Drill.planned_start, Drill.id)
    ).all()
    done = _sent(session, DRILL, [d.id for d in rows])
    people: dict[int, list[int]] = {}
    for drill_id, user_id in session.exec(
        select(DrillParticipant.drill_id, DrillParticipant.user_id)
        .where(DrillParticipant.drill_id.in_([d.id for d in rows]), DrillParticipant.user_id.is_not(None))
        .order_by(DrillParticipant.id)
    ).all():
        people.setdefault(drill_id, []).append(user_id)
    items = []
    for drill in rows:
        occasion = localtime.utc_text(drill.planned_start)
        if (drill.id, occasion) in done:
            continue
        recipients = tuple(dict.fromkeys([drill.lead_id, *people.get(drill.id, [])]))
        items.append(
            Item(DRILL, drill.id, occasion, drill.department_id, drill.title, recipients,
                 start=drill.planned_start, minutes=drill.duration_minutes)
        )  # fmt: skip
    return items


def actions_overdue(session: Session, today: date) -> list[Item]:
    """Open and in-progress actions past their due date, not yet reminded for that due date; to
    the owner and the owner's department head."""
    rows = session.exec(
        select(CorrectiveAction, Drill.title)
        .join(Drill, Drill.id == CorrectiveAction.drill_id)
        .where(CorrectiveAction.status.in_(ACTION_OPEN), CorrectiveAction.due_date < today)
        .order_by(CorrectiveAction.due_date, CorrectiveAction.id)
    ).all()
    done = _sent(session, ACTION, [row.id for row, _title in rows])
    heads = responsibility.holders(session, actions.HEAD_SUBJECT, {r.department_id for r, _t in rows}, actions.HEAD)
    items = []
    for row, drill_title in rows:
        occasion = row.due_date.isoformat()
        if (row.id, occasion) in done:
            continue
        head = heads.get(row.department_id)
        recipients = tuple(dict.fromkeys([row.owner_id, *([head.id] if head else [])]))
        items.append(
            Item(ACTION, row.id, occasion, row.department_id, row.title, recipients, due=row.due_date,
                 drill_title=drill_title, owner_id=row.owner_id)
        )  # fmt: skip
    return items


# --- the messages ----------------------------------------------------------------------------------


def _name(user: User) -> str:
    return user.display_name or user.username


def message(
    item: Item, user: User, owner: User | None, *, lang: str, base: str, tz: str, today: date
) -> tuple[str, str]:
    """The subject and body of one reminder to one person, in lang."""
    with force_locale(lang):
        if item.kind == DRILL:
            when = localtime.shown(item.start, tz)
            subject = _("SecGov: drill “%(title)s” on %(when)s", title=item.title, when=when)
            lines = [
                _("Hello %(name)s,", name=_name(user)),
                ngettext(
                    "The drill “%(title)s” starts on %(when)s and lasts %(num)d minute.",
                    "The drill “%(title)s” starts on %(when)s and lasts %(num)d minutes.",
                    item.minutes,
                    title=item.title,
                    when=when,
                ),
                _("You lead it.") if user.id == item.recipients[0] else _("You take part in it."),
            ]
            link = ics.link(base, "drills.detail", {"drill_id": item.object_id})
        else:
            subject = _("SecGov: corrective action “%(title)s” is overdue", title=item.title)
            lines = [
                _("Hello %(name)s,", name=_name(user)),
                ngettext(
                    "The corrective action “%(title)s” of the drill “%(drill)s” was due on %(date)s "
                    "(%(num)d day overdue).",
                    "The corrective action “%(title)s” of the drill “%(drill)s” was due on %(date)s "
                    "(%(num)d days overdue).",
                    rule.days_overdue(item.due, today),
                    title=item.title,
                    drill=item.drill_title,
                    date=item.due.isoformat(),
                ),
                _("It is yours.")
                if user.id == item.owner_id
                else _("Its owner, %(owner)s, is in your department.", owner=_name(owner) if owner else ""),
            ]
            link = ics.link(base, "drills.action", {"action_id": item.object_id})
        if link:
            lines.append(link)
        lines.append(_("You are told about this once."))
    return subject, "\n\n".join(lines) + "\n"


# --- the run -------------------------------------------------------------------------------------


def _note_sent(engine: Engine, actor: Actor, item: Item, got: list[User]) -> None:
    """The item was sent to these people: never again for this occasion; audited."""
    with write_session(engine) as session:
        session.add(DrillNotice(kind=item.kind, object_id=item.object_id, occasion=item.occasion))
        detail = {"recipients": [u.username for u in got]}
        if item.kind == DRILL:
            audit.record(
                session, actor, "drill.reminded", object_type="drill", object_id=item.object_id,
                department_id=item.department_id, planned_start=item.start, **detail,
            )  # fmt: skip
        else:
            audit.record(
                session, actor, "corrective_action.reminded", object_type="corrective_action",
                object_id=item.object_id, department_id=item.department_id, due_date=item.due, **detail,
            )  # fmt: skip


def remind(
    ctx: JobContext, settings: mail.MailSettings, actor: Actor, now: datetime, today: date, result: dict
) -> None:
    """Send each item to its people; record each item once sent, also when the server fails halfway."""
    with new_session(ctx.engine, write=False) as session:
        items = [*drills_soon(session, now), *actions_overdue(session, today)]
        wanted = {user_id for item in items for user_id in item.recipients}
        wanted |= {item.owner_id for item in items if item.owner_id}
        users = {u.id: u for u in session.exec(select(User).where(User.id.in_(wanted))).all()} if wanted else {}
    config = ServiceConfig.from_mapping(ctx.config)
    default = str(ctx.config.get("BABEL_DEFAULT_LOCALE") or "zh")
    base = public_url(ctx.config)
    counts = {"drills_reminded": 0, "actions_reminded": 0, "messages": 0, "no_address": 0}
    refused: list[str] = []
    try:
        for item in items:
            got: list[User] = []
            for user_id in item.recipients:
                user = users.get(user_id)
                if user is None or user.disabled:
                    continue
                if not user.email:
                    counts["no_address"] += 1
                    continue
                lang = user.language if user.language in LANGUAGES else default
                subject, body = message(item, user, users.get(item.owner_id), lang=lang, base=base,
                                        tz=config.timezone, today=today)  # fmt: skip
                try:
                    mail.send(settings, [user.email], subject, body)
                except mail.MailFailed as exc:
                    if exc.problem in ("bad_address", "recipient_refused"):
                        refused.append(user.username)
                        continue
                    if got:
                        _note_sent(ctx.engine, actor, item, got)
                    result.update(mail="failed")
                    raise JobFailed(f"mail_{exc.problem}", exc.detail, result={**result, **counts}) from None
                got.append(user)
                counts["messages"] += 1
            if got:
                _note_sent(ctx.engine, actor, item, got)
                counts["drills_reminded" if item.kind == DRILL else "actions_reminded"] += 1
    finally:
        result.update(counts)
        if refused:
            result["refused"] = refused


def daily(ctx: JobContext) -> dict:
    """Escalate overdue actions and send the reminders (see the module's docstring)."""
    config = ServiceConfig.from_mapping(ctx.config)
    now = now_utc()
    today = localtime.local(now, config.timezone).date()
    actor = Actor.system("job")
    result: dict[str, Any] = {"day": today.isoformat()}
    with write_session(ctx.engine) as session:
        result["actions_escalated"] = len(actions.escalate(session, actor, today))
        # A department's operator kind or a system's CII flag may have changed since a drill was
        # planned: its reporting deadline follows.
        result["deadlines_refreshed"] = services.refresh_deadlines(session)
    ctx.progress(1, 2)
    settings = mail.MailSettings.from_mapping(ctx.config)
    result.update(mail="sent" if settings.enabled else "off", drills_reminded=0, actions_reminded=0, messages=0)
    if settings.enabled:
        remind(ctx, settings, actor, now, today, result)
    ctx.progress(2, 2)
    return result


DAILY = JobKind(
    code=CODE,
    label=N_("Daily upkeep of drills: escalations and reminders"),
    run=daily,
    params=NoParams,
    max_seconds=1800,
    roles=frozenset({"admin"}),
    schedulable=True,
    city_wide=True,
    default_schedule=DEFAULT_SCHEDULE,
    on_failure="mail.alert",
    reasons={f"mail_{code}": text for code, text in mail.PROBLEMS.items()},
    result_labels={
        "day": N_("Day"),
        "actions_escalated": N_("Corrective actions escalated"),
        "deadlines_refreshed": N_("Reporting deadlines of planned drills updated"),
        "mail": N_("E-mail"),
        "drills_reminded": N_("Drills reminded"),
        "actions_reminded": N_("Overdue corrective actions reminded"),
        "messages": N_("Reminders sent"),
        "no_address": N_("People without an e-mail address"),
        "refused": N_("Addresses refused"),
    },
)

JOBS: tuple[JobKind, ...] = (DAILY,)
