"""Helpers for the drills tests: a drill team, drills planned, started and completed through the
services (each in its own committed session), so that pages, API, jobs and reports tests share
one way of arranging drills."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from factories import config_of
from sqlmodel import Session

from drills import actions, services
from drills.schemas import ActionCreate, DrillComplete, DrillCreate, DrillStart, TimelineCreate
from secgov.authz import Actor


def hours_ago(n: float) -> datetime:
    return (datetime.now(UTC) - timedelta(hours=n)).replace(microsecond=0)


def plan(app, actor: Actor, **fields) -> int:
    """A planned drill (its id): a tabletop of grade II led by `lead` (the actor by default)."""
    data = dict(
        title="Ransomware tabletop",
        scenario="Ransomware encrypts the signal controllers.",
        exercise_type="tabletop",
        incident_grade="II",
        lead=actor.username,
        planned_start=datetime.now(UTC) + timedelta(days=7),
        duration_minutes=120,
        objectives=["Detect the encryption", "Report to the CAC in time"],
    )
    data.update(fields)
    with Session(app.extensions["secgov_engine"], expire_on_commit=False) as own:
        with app.test_request_context(headers={"Accept-Language": "en"}):
            drill = services.create(own, actor, DrillCreate(**data))
        own.commit()
        return drill.id


def conduct(app, actor: Actor, drill_id: int, *, started: datetime, milestones: dict[str, int], ended: datetime | None):
    """Start a drill at `started`, write a timeline entry per milestone (minutes after the start),
    and complete it at `ended` (None: leave it in progress)."""
    engine = app.extensions["secgov_engine"]
    with Session(engine, expire_on_commit=False) as own, app.test_request_context(headers={"Accept-Language": "en"}):
        services.start(own, actor, drill_id, DrillStart(started_at=started))
        for milestone, minutes in milestones.items():
            services.add_entry(
                own, actor, drill_id,
                TimelineCreate(at=started + timedelta(minutes=minutes), who="SOC", text=f"{milestone} step",
                               milestone=milestone),
            )  # fmt: skip
        if ended is not None:
            services.complete(own, actor, drill_id, DrillComplete(ended_at=ended), config_of(app))
        own.commit()


def add_action(app, actor: Actor, drill_id: int, owner: str, due: date, **fields) -> int:
    with Session(app.extensions["secgov_engine"], expire_on_commit=False) as own:
        with app.test_request_context(headers={"Accept-Language": "en"}):
            row = actions.create(
                own, actor, drill_id, ActionCreate(title=fields.pop("title", "Patch the gateway"), owner=owner,
                                                   due_date=due, **fields),
                today=min(due, datetime.now(UTC).date()),
            )  # fmt: skip
        own.commit()
        return row.id
