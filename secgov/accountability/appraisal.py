"""The security performance appraisal (安全绩效考核, SPEC §5): per person and per department, for a
period, how the duties were kept — each domain's measures (`secgov.accountability.measures`),
combined with the weights of the setting `appraisal_weights` into a score from 0 to 100, ranked.

Every figure comes from outcomes, one per record, each naming the person who held the duty at the
moment that counted; so every figure lists its records (`records`). An open period is computed
when it is read; a closed one (`close`, by the city's leadership, audited with the SHA-256 of what
it stored) is read from what was stored then, so later edits never rewrite it.

Who reads what: administrators, leaders, officers and auditors read every line of the departments
in their scope; anyone else reads their own line only. The page, the API, the exports, the
dashboard and the compliance report all read through `appraise`."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Annotated, Any

from flask_babel import gettext as _
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlmodel import Session, select

from secgov import audit, localtime, settings
from secgov.accountability.measures import Measure, Outcome, Period, period_of
from secgov.authz import Actor, path_in_scope
from secgov.codes import N_
from secgov.config import ServiceConfig
from secgov.db import chunks
from secgov.errors import BadValue, Conflict, Forbidden, Invalid, Refusal
from secgov.models import AppraisalPeriod, Department, User
from secgov.settings import FormData, Setting

READERS = frozenset({"admin", "leader", "officer", "auditor"})  # every line in their scope
CLOSERS = frozenset({"leader"})  # of the root department: a period is the city's
WEIGHTS_KEY = "appraisal_weights"

PERIOD_HELP = "A year (2026), half (2026-H2), quarter (2026-Q3) or month (2026-09); by default this quarter."


def period_code(value: str | None) -> str | None:
    """A period's code, checked and written the one way ("2026-q3" is "2026-Q3")."""
    return period(value, "UTC").code if value else None


PeriodCode = Annotated[
    str | None, Field(default=None, max_length=10, description=PERIOD_HELP), AfterValidator(period_code)
]


class AppraisalQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    period: PeriodCode = None


class RecordFilters(AppraisalQuery):
    """Which records behind the figures: a measure, a person ("-": nobody), a department, a result."""

    measure: str | None = Field(default=None, max_length=40, description="Only this measure's records.")
    user: str | None = Field(
        default=None, max_length=64, description="Only the records of this user name; '-' for those nobody held."
    )
    department: str | None = Field(default=None, max_length=40, description="Only this department's (its code).")
    good: bool | None = Field(default=None, description="Only the good (true) or the failed (false) outcomes.")


_PERIOD = re.compile(r"^(\d{4})(?:-(?:(0[1-9]|1[0-2])|Q([1-4])|H([12])))?$")


# --- periods --------------------------------------------------------------------------------


def period(code: str, tz: str) -> Period:
    """The period a code names: a year ("2026"), a half ("2026-H2"), a quarter ("2026-Q3") or a
    month ("2026-09"); Invalid for anything else."""
    found = _PERIOD.match((code or "").strip().upper())
    year = int(found.group(1)) if found else 0
    if not found or not 2000 <= year <= 2100:
        raise BadValue(
            _("A period is a year, a half, a quarter or a month: 2026, 2026-H2, 2026-Q3 or 2026-09."), field="period"
        )
    month, quarter, half = found.group(2), found.group(3), found.group(4)
    if month:
        first, months = int(month), 1
    elif quarter:
        first, months = 3 * int(quarter) - 2, 3
    elif half:
        first, months = 6 * int(half) - 5, 6
    else:
        first, months = 1, 12
    last = first + months - 1
    ends = date(year + 1, 1, 1) if last == 12 else date(year, last + 1, 1)
    return period_of(found.group(0), date(year, first, 1), date.fromordinal(ends.toordinal() - 1), tz)


def quarter_of(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def covering(start: date, end: date) -> str:
    """The appraisal period of a report's days: the month, quarter, half or year (the smallest)
    holding both its first and last days; a period across years is appraised by its last year."""
    if (start.year, start.month) == (end.year, end.month):
        return f"{end.year}-{end.month:02d}"
    if start.year == end.year:
        if (start.month - 1) // 3 == (end.month - 1) // 3:
            return quarter_of(end)
        if (start.month - 1) // 6 == (end.month - 1) // 6:
            return f"{end.year}-H{(end.month - 1) // 6 + 1}"
    return str(end.year)


def offered(today: date, closed: Iterable[str] = ()) -> list[str]:
    """The periods a reader picks from: this quarter and the four before it, this year and the
    last, and every closed period; newest first."""
    codes: list[str] = []
    year, q = today.year, (today.month - 1) // 3 + 1
    for _i in range(5):
        codes.append(f"{year}-Q{q}")
        year, q = (year, q - 1) if q > 1 else (year - 1, 4)
    codes += [str(today.year), str(today.year - 1)]
    for code in closed:
        if code not in codes:
            codes.append(code)
    return codes


# --- weights --------------------------------------------------------------------------------


def default_weights(measures: Sequence[Measure]) -> dict[str, int]:
    return {m.code: m.weight for m in measures}


def _check_weights(measures: Sequence[Measure]):
    known = [m.code for m in measures]

    def check(value: Any, _config: ServiceConfig) -> dict[str, int]:
        if not isinstance(value, Mapping) or set(value) != set(known):
            raise Invalid(_("Give a weight for each measure of the appraisal, and only for those."), field=WEIGHTS_KEY)
        weights = {}
        for code in known:
            weight = value[code]
            if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 100:
                raise Invalid(_("Each weight is a whole number from 0 to 100."), field=WEIGHTS_KEY)
            weights[code] = weight
        total = sum(weights.values())
        if total != 100:
            raise Invalid(
                _("The weights must add up to 100; these add up to %(total)d.", total=total), field=WEIGHTS_KEY
            )
        return weights

    return check


def _read_weights(measures: Sequence[Measure]):
    def read(form: FormData) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for m in measures:
            text = form.get(f"{WEIGHTS_KEY}.{m.code}", "").strip()
            found[m.code] = int(text) if text.isdigit() else text
        return found

    return read


def weights_setting(measures: Sequence[Measure]) -> Setting:
    """The city-wide setting of the measures' weights: each a whole number, together 100."""
    return Setting(
        WEIGHTS_KEY,
        lambda _config: default_weights(measures),
        _check_weights(measures),
        type=dict[str, int],
        label=N_("Appraisal weights"),
        help=N_(
            "How much each measure counts in a person's or a department's appraisal score. Whole numbers "
            "that add up to 100; a measure without records for someone is left out and the others count "
            "in proportion."
        ),
        form="admin/settings/appraisal_weights.html",
        read_form=_read_weights(measures),
    )


# --- the outcomes, as they are stored -------------------------------------------------------


def _stored(outcomes: Iterable[Outcome], session: Session) -> list[dict[str, Any]]:
    """Outcomes with the names they had when read (a closed period keeps them as they were)."""
    found = list(outcomes)
    users = {u.id: u for u in _rows(session, User, {o.user_id for o in found if o.user_id is not None})}
    departments = {d.id: d for d in _rows(session, Department, {o.department_id for o in found})}
    departments_of_users = {d.id: d.code for d in _rows(session, Department, {u.department_id for u in users.values()})}
    rows = []
    for o in found:
        user, dept = users.get(o.user_id), departments.get(o.department_id)
        rows.append(
            {
                "measure": o.measure,
                "record_type": o.record_type,
                "record_id": o.record_id,
                "title": o.title,
                "at": localtime.utc_text(o.at),
                "department_id": o.department_id,
                "department": dept.code if dept else "",
                "department_name": dept.name if dept else "",
                "department_name_en": dept.name_en if dept else "",
                "department_path": dept.path if dept else "",
                "user_id": o.user_id,
                "username": user.username if user else None,
                "user_department": _code_of(departments_of_users, user) if user else None,
                "user_name": (user.display_name or user.username) if user else None,
                "good": bool(o.good),
                "value": o.value,
                "note": o.note,
            }
        )
    rows.sort(key=lambda r: (r["measure"], r["at"], r["record_type"], r["record_id"]))
    return rows


def _code_of(codes: dict[int, str], user: User) -> str:
    return codes.get(user.department_id, "")


def _rows(session: Session, model, ids: set[int]) -> list:
    found = []
    for chunk in chunks(sorted(ids)):
        found += session.exec(select(model).where(model.id.in_(list(chunk)))).all()
    return found


def collect(
    session: Session, measures: Sequence[Measure], span: Period, config: ServiceConfig, now: datetime
) -> list[dict[str, Any]]:
    """Every measure's outcomes for the period, city-wide, as stored: until the end of the period
    or now, whichever comes first."""
    as_of = min(span.end, now)
    outcomes: list[Outcome] = []
    if as_of > span.start:
        for measure in measures:
            outcomes += measure.collect(session, span, as_of, config)
    return _stored(outcomes, session)


# --- adding up ------------------------------------------------------------------------------


@dataclass
class Figure:
    """A measure's figure for one person or department: good outcomes of all, the mean value
    (average measures), and the score (the share of good ones, 0-100)."""

    good: int = 0
    total: int = 0
    value_sum: float = 0.0
    value_count: int = 0

    @property
    def bad(self) -> int:
        return self.total - self.good

    @property
    def score(self) -> float | None:
        return round(100 * self.good / self.total, 1) if self.total else None

    @property
    def average(self) -> float | None:
        return round(self.value_sum / self.value_count, 1) if self.value_count else None


@dataclass
class Line:
    """A person's or a department's line of the appraisal."""

    key: int | None  # the user's or department's id; None: records nobody held
    code: str  # username or department code
    name: str
    name_en: str = ""  # a department's English name, when it has one
    department: str = ""  # a person's own department (when the records were read)
    figures: dict[str, Figure] = field(default_factory=dict)
    score: float | None = None
    rank: int | None = None

    @property
    def records(self) -> int:
        return sum(f.total for f in self.figures.values())


@dataclass(frozen=True)
class MeasureInfo:
    code: str
    label: str  # English message; translated when shown
    help: str
    kind: str
    unit: str
    weight: int
    links: Mapping[str, tuple[str, str]]

    @classmethod
    def of(cls, measure: Measure, weight: int) -> MeasureInfo:
        return cls(measure.code, measure.label, measure.help, measure.kind, measure.unit, weight, dict(measure.links))

    def stored(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "label": self.label,
            "help": self.help,
            "kind": self.kind,
            "unit": self.unit,
            "weight": self.weight,
            "links": {k: list(v) for k, v in self.links.items()},
        }

    @classmethod
    def from_stored(cls, data: Mapping[str, Any]) -> MeasureInfo:
        links = {k: (v[0], v[1]) for k, v in data.get("links", {}).items()}
        return cls(
            data["code"], data["label"], data.get("help", ""), data["kind"], data.get("unit", ""), data["weight"], links
        )


@dataclass(frozen=True)
class Closed:
    at: datetime
    by: str
    sha256: str


@dataclass
class Appraisal:
    """A period's appraisal as one reader sees it."""

    period: Period
    as_of: datetime
    measures: list[MeasureInfo]
    outcomes: list[dict[str, Any]]  # those the reader sees
    people: list[Line]
    departments: list[Line]
    unheld: Line  # records nobody held at their moment (counted for their departments only)
    closed: Closed | None = None
    own_only: bool = False  # the reader sees their own line only

    @property
    def score(self) -> float | None:
        """The score of everything the reader sees together."""
        whole = Line(None, "", "")
        for row in self.outcomes:
            _add(whole, row)
        return _score(whole, self.measures)


def _add(line: Line, row: Mapping[str, Any]) -> None:
    figure = line.figures.setdefault(row["measure"], Figure())
    figure.total += 1
    figure.good += 1 if row["good"] else 0
    if row.get("value") is not None:
        figure.value_sum += float(row["value"])
        figure.value_count += 1


def _score(line: Line, measures: Sequence[MeasureInfo]) -> float | None:
    """The weighted mean of the measures' scores that have records; None without any."""
    parts = [(m.weight, line.figures[m.code].score) for m in measures if m.code in line.figures]
    weight = sum(w for w, s in parts if s is not None)
    if not weight:
        return None
    return round(sum(w * s for w, s in parts if s is not None) / weight, 1)


def _ranked(lines: list[Line], measures: Sequence[MeasureInfo]) -> list[Line]:
    """Lines by score, best first, ties sharing a rank ("1, 2, 2, 4"); lines without a score last."""
    for line in lines:
        line.score = _score(line, measures)
    lines.sort(key=lambda x: (x.score is None, -(x.score or 0), -x.records, x.code))
    previous, rank = None, 0
    for position, line in enumerate(lines, start=1):
        if line.score is None:
            line.rank = None
            continue
        if line.score != previous:
            rank, previous = position, line.score
        line.rank = rank
    return lines


def summarise(
    span: Period,
    as_of: datetime,
    measures: list[MeasureInfo],
    rows: list[dict[str, Any]],
    closed: Closed | None,
    own_only: bool = False,
) -> Appraisal:
    people: dict[int, Line] = {}
    departments: dict[int, Line] = {}
    unheld = Line(None, "", "")
    for row in rows:
        dept = departments.setdefault(
            row["department_id"],
            Line(row["department_id"], row["department"], row["department_name"], row.get("department_name_en", "")),
        )
        _add(dept, row)
        if row["user_id"] is None:
            _add(unheld, row)
            continue
        person = people.setdefault(
            row["user_id"],
            Line(row["user_id"], row["username"], row["user_name"], department=row.get("user_department") or ""),
        )
        _add(person, row)
    unheld.score = _score(unheld, measures)
    return Appraisal(
        period=span,
        as_of=as_of,
        measures=measures,
        outcomes=rows,
        people=_ranked(list(people.values()), measures),
        departments=[] if own_only else _ranked(list(departments.values()), measures),
        unheld=unheld if not own_only else Line(None, "", ""),
        closed=closed,
        own_only=own_only,
    )


# --- reading and closing --------------------------------------------------------------------


def _visible(session: Session, actor: Actor, roles: Iterable[str], rows: list[dict[str, Any]]) -> tuple[list, bool]:
    """The rows the reader sees, and whether they see their own only."""
    if not READERS & set(roles):
        return [r for r in rows if r["user_id"] is not None and r["user_id"] == actor.user_id], True
    paths = {d.id: d.path for d in session.exec(select(Department)).all()}
    return [r for r in rows if path_in_scope(paths.get(r["department_id"], r["department_path"]), actor)], False


def stored_period(session: Session, code: str) -> AppraisalPeriod | None:
    return session.exec(select(AppraisalPeriod).where(AppraisalPeriod.code == code)).first()


def closed_codes(session: Session) -> list[str]:
    return list(session.exec(select(AppraisalPeriod.code).order_by(AppraisalPeriod.starts_on.desc())).all())


def weights_now(session: Session, measures: Sequence[Measure], config: ServiceConfig) -> dict[str, int]:
    value = settings.get(session, weights_setting(measures), config)
    # A measure added since the weights were set counts with no weight until they are set again.
    return {m.code: int(value.get(m.code, 0)) for m in measures}


def _live(
    session: Session, measures: Sequence[Measure], span: Period, config: ServiceConfig, now: datetime
) -> tuple[list[MeasureInfo], list[dict[str, Any]]]:
    """The measures with today's weights, and the period's outcomes as they are now."""
    weights = weights_now(session, measures, config)
    return [MeasureInfo.of(m, weights[m.code]) for m in measures], collect(session, measures, span, config, now)


def appraise(
    session: Session,
    actor: Actor,
    roles: Iterable[str],
    measures: Sequence[Measure],
    code: str,
    config: ServiceConfig,
    now: datetime | None = None,
) -> Appraisal:
    """The appraisal of the period `code` as the reader sees it: from what was stored when it was
    closed, or computed now with the weights of now."""
    now = now or datetime.now(UTC)
    span = period(code, config.timezone)
    row = stored_period(session, span.code)
    if row is not None:
        data = json.loads(row.data)
        infos = [MeasureInfo.from_stored(m) for m in data["measures"]]
        rows = data["outcomes"]
        closed = Closed(row.closed_at, row.closed_by, row.sha256)
        as_of = localtime.instant(data["as_of"])
    else:
        infos, rows = _live(session, measures, span, config, now)
        closed, as_of = None, min(span.end, now)
    seen, own_only = _visible(session, actor, roles, rows)
    return summarise(span, as_of, infos, seen, closed, own_only)


def records(
    found: Appraisal, measure: str | None, user: str | None, department: str | None, good: bool | None
) -> list[dict[str, Any]]:
    """The outcomes behind a figure: by measure, person ("-": those nobody held), department and
    result."""
    rows = found.outcomes
    if measure:
        rows = [r for r in rows if r["measure"] == measure]
    if user == "-":
        rows = [r for r in rows if r["user_id"] is None]
    elif user:
        rows = [r for r in rows if (r["username"] or "").lower() == user.lower()]
    if department:
        rows = [r for r in rows if r["department"] == department]
    if good is not None:
        rows = [r for r in rows if r["good"] is good]
    return rows


def canonical(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def close(
    session: Session,
    actor: Actor,
    roles: Iterable[str],
    measures: Sequence[Measure],
    code: str,
    config: ServiceConfig,
    now: datetime | None = None,
) -> AppraisalPeriod:
    """Close a period that has ended: its outcomes, names and weights are stored as they are now,
    with their SHA-256, and the closing is audited. Only the city's leadership closes a period."""
    now = now or datetime.now(UTC)
    span = period(code, config.timezone)
    if not CLOSERS & set(roles) or not actor.city_wide:
        raise Forbidden(
            _("Only the city's leadership closes an appraisal period."),
            refusal=Refusal(actor, "appraisal.denied", "appraisal_period", span.code),
        )
    today = localtime.local(now, config.timezone).date()
    if span.ends_on >= today:
        raise Invalid(
            _(
                "The period %(period)s has not ended yet; it can be closed from %(day)s.",
                period=span.code,
                day=date.fromordinal(span.ends_on.toordinal() + 1).isoformat(),
            ),
            field="period",
        )
    if stored_period(session, span.code) is not None:
        raise Conflict(_("The period %(period)s is already closed.", period=span.code))
    infos, rows = _live(session, measures, span, config, now)
    data = {
        "period": span.code,
        "as_of": localtime.utc_text(min(span.end, now)),
        "measures": [info.stored() for info in infos],
        "outcomes": rows,
    }
    body = canonical(data)
    digest = hashlib.sha256(body).hexdigest()
    stored = AppraisalPeriod(
        code=span.code,
        starts_on=span.starts_on,
        ends_on=span.ends_on,
        closed_at=now,
        closed_by=actor.username,
        data=body.decode(),
        sha256=digest,
    )
    session.add(stored)
    session.flush()
    summary = summarise(span, min(span.end, now), infos, rows, None)
    audit.record(
        session,
        actor,
        "appraisal.closed",
        object_type="appraisal_period",
        object_id=span.code,
        stored_sha256=digest,
        records=len(rows),
        weights={info.code: info.weight for info in infos},
        overall_score=summary.score,
    )
    return stored
