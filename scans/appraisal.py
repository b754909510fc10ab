"""What the scans domain brings to the security performance appraisal
(secgov.accountability.measures): findings triaged in time.

Every finding first seen in the period whose triage deadline (the moment it was found, plus the
city-wide `finding_triage_days`) has passed counts: good when it first left "open" (acknowledged,
called a false positive, resolved, promoted to a risk: scans.findings.first_triaged) by its
deadline. The scan owner of its asset when it was found answers, or the asset's owner then when
no scan owner was named (`scans.duties.ANSWERS`); it counts for the asset's department."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlmodel import Session, select

from assets import services as asset_services
from assets.models import Asset
from scans import findings
from scans.duties import ANSWERS
from scans.models import ScanFinding
from scans.settings import TRIAGE_DAYS
from secgov import responsibility, settings
from secgov.accountability.measures import Measure, Outcome, Period
from secgov.codes import N_
from secgov.config import ServiceConfig
from secgov.localtime import local

FINDINGS_TRIAGED = "findings_triaged"


def triaged(session: Session, period: Period, as_of: datetime, config: ServiceConfig) -> Iterable[Outcome]:
    """One outcome per finding first seen in the period whose deadline passed by `as_of`,
    city-wide: the setting, one statement for the findings, and per 500 findings one for their
    first triage and one for their assets' scan owners and owners."""
    days = settings.get(session, TRIAGE_DAYS, config)
    allowed = timedelta(days=days)
    rows = session.exec(
        select(ScanFinding, Asset.department_id)
        .join(Asset, Asset.id == ScanFinding.asset_id)
        .where(
            ScanFinding.created_at >= period.start,
            ScanFinding.created_at < period.end,
            ScanFinding.created_at <= as_of - allowed,
        )
        .order_by(ScanFinding.created_at, ScanFinding.id)
    ).all()
    first = findings.first_triaged(session, [finding for finding, _dept in rows])
    owners = responsibility.holders_at(
        session, asset_services.SUBJECT, ANSWERS, [(f.asset_id, f.created_at) for f, _dept in rows]
    )
    outcomes = []
    for finding, department_id in rows:
        deadline = finding.created_at + allowed
        at = first.get(finding.id)
        good = at is not None and at <= deadline
        if at is None:
            note = _("not triaged")
        elif good:
            note = _("triaged on %(day)s", day=local(at, config.timezone).date().isoformat())
        else:
            note = _(
                "triaged on %(day)s, after the deadline of %(deadline)s",
                day=local(at, config.timezone).date().isoformat(),
                deadline=local(deadline, config.timezone).date().isoformat(),
            )
        outcomes.append(
            Outcome(
                measure=FINDINGS_TRIAGED,
                record_type="finding",
                record_id=finding.id,
                title=findings.title_of(finding),
                at=finding.created_at,
                department_id=department_id,
                user_id=owners.get((finding.asset_id, finding.created_at)),
                good=good,
                note=note,
            )  # fmt: skip
        )
    return outcomes


MEASURES = (
    Measure(
        code=FINDINGS_TRIAGED,
        label=N_("Findings triaged in time"),
        help=N_(
            "Every scan finding first seen in the period, once its triage time (a city-wide setting) is over: good "
            "when it was acknowledged, called a false positive, resolved or promoted to a risk within that time. "
            "The scan owner of its system when it was found answers, or the system's owner when no scan owner "
            "was named."
        ),
        kind="rate",
        weight=15,
        collect=triaged,
        links={"finding": ("scans.finding", "finding_id")},
        order=60,
    ),
)
