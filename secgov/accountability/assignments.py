"""Assigning duties, and the gaps where a duty has no holder (SPEC §5).

Every assignment of every declared duty (`secgov.accountability.duties`) goes through `assign`,
which states the rules once, then writes through `secgov.responsibility` (the one mechanism the
domains' owner fields use too):

- the duty must be declared, its subject in the assigner's scope (else it does not exist for
  them), and the assigner must hold one of the duty's `assigners` roles (a refusal is audited);
- the new holder must be an active user whom the assigner can see and who can see the subject
  (their department is the subject's or one above it);
- a term starts now or later, never in the past: a wrong record is put right by a *correction*,
  a new term from now that names the term it corrects, which the trace shows as such;
- a term's end comes after its start, and a term may not overlap a later term already planned
  for the same duty and subject; the term in force when it starts ends then (a reassignment).

`gaps` lists the subjects that need a holder and have none now, or whose holder has been
disabled (a leaving user's duties are gaps until reassigned)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from flask_babel import gettext as _
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import func
from sqlmodel import Session, select

from secgov import responsibility
from secgov.accountability.duties import Duty, Subject
from secgov.authz import Actor, deny_out_of_scope, department_in_scope, path_in_scope
from secgov.errors import Conflict, Forbidden, Invalid, NotFound, Refusal
from secgov.models import Responsibility, User

# A start this close to now counts as now (the clocks of a client and the server differ a little).
CLOCK_SLACK = timedelta(minutes=1)


class AssignmentIn(BaseModel):
    """An assignment: who holds `duty` (its code, e.g. "asset.owner") for the subject with id
    `subject_id`, from `valid_from` (now when left out) until `valid_to` (open-ended when left
    out), and why; `correction` when the term in force had named the wrong person."""

    model_config = ConfigDict(extra="forbid")

    duty: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=81)]
    # A row id: past the databases' INTEGER columns it names no row (and the database would refuse it).
    subject_id: int = Field(ge=1, le=2**31 - 1)
    user: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    valid_from: AwareDatetime | None = None
    valid_to: AwareDatetime | None = None
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    correction: bool = False


@dataclass(frozen=True)
class Gap:
    """A subject that needs a holder of a duty and has none now (`holder` None), or whose holder
    has been disabled."""

    duty: Duty
    subject: Subject
    holder: User | None


def duty_named(duties: Mapping[str, Duty], code: str) -> Duty:
    duty = duties.get(code)
    if duty is None:
        raise Invalid(_("There is no duty %(code)s.", code=code), field="duty")
    return duty


def subject_of(session: Session, actor: Actor, duty: Duty, subject_id: int) -> Subject:
    """The subject of a duty in the actor's scope; else not found (audited when it exists)."""
    subject = duty.find(session, [subject_id]).get(subject_id)
    if subject is None:
        raise NotFound(_("Not found."))
    if not path_in_scope(subject.department_path, actor):
        deny_out_of_scope(actor, duty.subject_type, subject_id)
    return subject


def _holder(session: Session, actor: Actor, name: str, duty: Duty, subject: Subject) -> User:
    user = session.exec(select(User).where(func.lower(User.username) == name.lower())).first()
    if duty.eligible is not None:
        if user is None:
            raise Invalid(_("There is no user %(name)s in your scope.", name=name), field="user")
        duty.eligible(session, actor, subject, user)
        return user
    if user is None or not department_in_scope(user.department, actor):
        raise Invalid(_("There is no user %(name)s in your scope.", name=name), field="user")
    if user.disabled:
        raise Invalid(_("%(name)s is disabled: a duty goes to an active user.", name=user.username), field="user")
    if not subject.department_path.startswith(user.department.path):
        raise Invalid(
            _(
                "%(name)s works outside the department of %(subject)s: the holder must be able to see it.",
                name=user.username,
                subject=subject.label,
            ),
            field="user",
        )
    return user


def _term_text(term: Responsibility, holder: User) -> str:
    end = term.valid_to.isoformat(timespec="minutes") if term.valid_to else _("open-ended")
    return f"{holder.username} ({term.valid_from.isoformat(timespec='minutes')} – {end})"


def assign(
    session: Session,
    actor: Actor,
    roles: Iterable[str],
    data: AssignmentIn,
    duties: Mapping[str, Duty],
    now: datetime | None = None,
) -> Responsibility:
    """Give a duty to a user under the rules above; the new term (audited as assigned, or as
    corrected). `roles`: the assigner's roles (the system has every role)."""
    duty = duty_named(duties, data.duty)
    subject = subject_of(session, actor, duty, data.subject_id)
    if not set(roles) & duty.assigners:
        raise Forbidden(
            _("You may not assign this duty."),
            refusal=Refusal(actor, "responsibility.denied", duty.subject_type, subject.id),
        )
    user = _holder(session, actor, data.user, duty, subject)
    now = now or datetime.now(UTC)
    start = data.valid_from or now
    if duty.applied is not None and (start > now + CLOCK_SLACK or data.valid_to is not None):
        raise Invalid(
            _("This duty is named on its record: it changes hands now, without a planned start or end."),
            field="valid_from",
        )
    if start < now - CLOCK_SLACK:
        raise Invalid(
            _(
                "An assignment starts now or later, never in the past. To put an earlier record right, "
                "assign the right person now as a correction."
            ),
            field="valid_from",
        )
    start = max(start, now)
    if data.valid_to is not None and data.valid_to <= start:
        raise Invalid(_("The end must come after the start."), field="valid_to")
    later = (
        select(Responsibility, User)
        .join(User, User.id == Responsibility.user_id)
        .where(
            Responsibility.subject_type == duty.subject_type,
            Responsibility.subject_id == subject.id,
            Responsibility.duty == duty.duty,
            Responsibility.valid_from >= start,
        )
    )
    if data.valid_to is not None:
        later = later.where(Responsibility.valid_from < data.valid_to)
    clash = session.exec(later.order_by(Responsibility.valid_from)).first()
    if clash is not None:
        raise Conflict(_("This period overlaps the term of %(term)s.", term=_term_text(*clash)), field="valid_from")
    corrects = None
    if data.correction:
        if start > now:
            raise Invalid(_("A correction takes effect now."), field="valid_from")
        corrects = session.exec(
            select(Responsibility).where(
                Responsibility.subject_type == duty.subject_type,
                Responsibility.subject_id == subject.id,
                Responsibility.duty == duty.duty,
                responsibility.covering(start),
            )
        ).first()
        if corrects is None:
            raise Invalid(_("There is no term in force to correct."), field="correction")
    term = responsibility.assign(
        session,
        duty.subject_type,
        subject.id,
        duty.duty,
        user,
        actor,
        reason=data.reason,
        department_id=subject.department_id,
        at=start,
        until=data.valid_to,
        corrects=corrects,
    )
    if term is None:
        raise Conflict(_("%(name)s already holds this duty.", name=user.username), field="user")
    if duty.applied is not None:
        duty.applied(session, actor, subject.id, user)
    return term


def gaps(session: Session, actor: Actor, duties: Sequence[Duty], at: datetime | None = None) -> list[Gap]:
    """The subjects in the actor's scope that need a holder of each duty and have none at `at`
    (now), or whose holder is disabled; two statements a duty."""
    scope = "/" if actor.city_wide else actor.scope
    found: list[Gap] = []
    for duty in duties:
        needed = [row for row in session.exec(duty.required(scope)).all()]
        if not needed:
            continue
        held = responsibility.holders(session, duty.subject_type, needed, duty.duty, at=at)
        missing = [i for i in needed if i not in held or held[i].disabled]
        subjects = duty.find(session, missing)
        found.extend(Gap(duty, subjects[i], held.get(i)) for i in missing if i in subjects)
    return found


def duties_of(session: Session, user: User, at: datetime | None = None) -> list[Responsibility]:
    """The terms a user holds at `at` (now), oldest first."""
    return list(
        session.exec(
            select(Responsibility)
            .where(Responsibility.user_id == user.id, responsibility.covering(at))
            .order_by(Responsibility.valid_from, Responsibility.id)
        ).all()
    )
