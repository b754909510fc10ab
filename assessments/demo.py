"""The demo city's year of assessments and its risk register, made once (loading the demo again
adds nothing).

- **Assessments** of the systems in operation or being built, as their level and CII status
  require: self-inspections, MLPS evaluations by outside testing agencies (agency, report number
  and score) at the interval of the system's level, CII annual assessments; most approved by the
  leader, a few drafts, submitted and returned ones; a system graded recently may not have had
  its first one yet. Some systems are overdue (graded long ago and never assessed since, or last
  assessed more than an interval ago), a few are due within the month. Some conclusions are
  poor: a low agency score, or a high risk found by the assessment still open when it was
  approved.
- **150 risks** on those systems, each owned by its system's owner when it was registered (and
  handed over with the system, if it was before the risk was closed): open (some past
  their review), in treatment (some past their due date; residual likelihood and impact),
  accepted with an acceptance in force (high ones by the leader; a few expiring within the
  month) and with an acceptance that has lapsed (the daily job's `expire_acceptances` reopens
  them here), closed; a good part promoted from the assessments' findings.

Each owner keeps their dates as often as `secgov.demo.diligence` says: a system's assessment due
in the past was approved by its due date or after it, a risk closed by its due date or later; the
systems never assessed since their grading are mostly the careless owners'. So the appraisal finds
good and poor records, and the bureaus differ.

The domain's own rules make them: drafts, submissions, returns, promotions, acceptances,
reviews, closings and the lapse of acceptances go through the services, with `today=` the day
each happened; the approved assessments are written by the batch as `services.approve` leaves
them (area ratings by `rule.area_rating` from the asset's controls, the agency's score or
`rule.overall_score`, `rule.conclusion_of`), audited as created, submitted and approved; the
risks entered by hand are registered at once by `risks.create_risks`. (A service call per
record would cost every loading of the demo several seconds.)

Dates go back up to a year and a half: the moments the rows record (registered, created,
submitted, decided, accepted, reviewed, closed, the owners' terms) are moved back afterwards, as
the asset demo moves its grading back. The audit trail keeps the moment of loading (it is
append-only); `demo.assessments_loaded` says so."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import update
from sqlmodel import Session, select

from assessments import risks, rule, schedule, services
from assessments.codes import AGENCY_KINDS
from assessments.models import (
    Assessment,
    AssessmentArea,
    AssessmentControl,
    AssessmentFinding,
    Risk,
    RiskAcceptance,
    RiskReview,
)
from assessments.schemas import (
    AcceptanceCreate,
    AssessmentCreate,
    AssessmentDecision,
    FindingCreate,
    Promotion,
    ReviewCreate,
    RiskCreate,
    RiskUpdate,
)
from assets.demo import register_on
from assets.models import Asset, AssetControl, Control
from assets.services import OWNER as ASSET_OWNER
from assets.services import SUBJECT as ASSET
from secgov import audit, auth, responsibility
from secgov.authz import Actor
from secgov.codes import AREA
from secgov.config import ServiceConfig
from secgov.db import chunks
from secgov.demo import diligence
from secgov.localtime import day_start
from secgov.models import AuditEntry, Department, Responsibility, User

LEADER = "leader"

AGENCIES = (
    ("海滨市网络安全等级测评中心 Haibin MLPS Evaluation Centre", "HBCP"),
    ("华东信息安全测评有限公司 East China InfoSec Evaluation Co.", "HDXA"),
    ("国家信息技术安全研究中心海滨分中心 NITSC Haibin", "NITSC"),
)
# Findings and risks: title, area, threat, vulnerability, (likelihood, impact) range.
RISKS = (
    ("运维账户使用弱口令 Weak passwords on operations accounts", "system_protection",
     "外部攻击者暴力破解 Brute force from outside", "默认或弱口令 Default or weak passwords"),
    ("未及时修补高危漏洞 Critical patches not applied", "construction_operations",
     "利用已知漏洞的攻击 Exploitation of known flaws", "补丁周期超过 90 天 Patch cycle over 90 days"),
    ("备份未做恢复演练 Backups never restored in a test", "construction_operations",
     "勒索软件 Ransomware", "备份可用性未验证 Backup usability unverified"),
    ("日志留存不足六个月 Logs kept under six months", "security_standards",
     "事件无法追溯 Incidents cannot be traced", "日志存储容量不足 Log storage too small"),
    ("远程运维未经堡垒机 Remote maintenance bypasses the bastion host", "system_protection",
     "厂商账户被盗用 Stolen vendor credentials", "直连运维通道 Direct maintenance channel"),
    ("边界防火墙策略过宽 Border firewall rules too broad", "system_protection",
     "横向移动 Lateral movement", "any-any 规则 Any-any rules"),
    ("数据库明文存储个人信息 Personal data stored in clear", "information_protection",
     "数据泄露 Data breach", "未加密字段 Unencrypted columns"),
    ("安全管理制度未更新 Security policies out of date", "policies",
     "管理缺位 Gaps in management", "制度三年未修订 Policies unrevised for three years"),
    ("第三方运维人员未签保密协议 Contractors without confidentiality agreements", "policies",
     "内部人员泄密 Insider disclosure", "协议缺失 Missing agreements"),
    ("网络设备固件老旧 Outdated network device firmware", "equipment_review",
     "设备被控 Device takeover", "厂商已停止支持 Out of vendor support"),
    ("工控网络与办公网未隔离 Control network not separated from the office network", "system_protection",
     "恶意代码扩散 Malware spread", "扁平网络 Flat network"),
    ("未部署入侵检测 No intrusion detection", "security_standards",
     "攻击未被发现 Undetected attacks", "缺少监测手段 No monitoring"),
    ("机房门禁记录缺失 Machine room access not logged", "equipment_review",
     "未授权物理访问 Unauthorised physical access", "门禁系统故障 Access control failure"),
    ("应急预案未演练 Incident response plan never exercised", "policies",
     "处置迟缓 Slow response", "预案流于形式 Plan on paper only"),
    ("接口未做访问控制 API without access control", "information_protection",
     "数据被批量爬取 Bulk scraping", "未鉴权接口 Unauthenticated endpoints"),
    ("供应链组件存在后门风险 Supply-chain component risk", "equipment_review",
     "植入后门 Implanted backdoor", "来源未审查 Unvetted origin"),
    ("视频流未加密传输 Video streams sent unencrypted", "information_protection",
     "窃听 Eavesdropping", "明文协议 Clear-text protocol"),
    ("管理员权限过度集中 Administrator rights concentrated", "policies",
     "滥用权限 Abuse of privilege", "未分权 No separation of duties"),
)  # fmt: skip
PLANS = (
    "按计划整改并复测 Remedy as planned and test again",
    "采购并部署防护设备 Procure and deploy the control",
    "修订制度并组织培训 Revise the policy and train staff",
    "委托厂商升级 Have the vendor upgrade",
)
ACCEPT_REASONS = (
    "系统年内下线，整改投入不经济 System retires within the year; remedy not worth it",
    "已有补偿性控制措施 Compensating controls in place",
    "等待新系统建设完成后统一整改 Fixed with the replacement system",
)
RETURN_REASONS = (
    "请补充系统保护方面的证据 Add evidence for system protection",
    "评估范围遗漏灾备中心 The scope leaves out the disaster recovery site",
)


@dataclass
class _World:
    """What the loader works with: the day, the people acting, the systems, their owners' terms
    and the method; the risks made."""

    today: date
    rng: random.Random
    method: rule.Method
    leader: Actor
    assets: list[tuple[Asset, str]]  # (asset, its department's path)
    graded: dict[int, date]
    tz: str
    terms: dict[int, list[Responsibility]]  # each asset's owners' terms, oldest first
    people: dict[int, User]  # the owners, by id
    made: list[int] = field(default_factory=list)  # the ids of the risks made


def load(session: Session, actor: Actor, config: ServiceConfig) -> None:
    """Make the demo city's assessments and risks, in the caller's transaction, unless they were
    made before."""
    if (
        session.exec(select(AuditEntry.seq).where(AuditEntry.action == "demo.assessments_loaded").limit(1)).first()
        is not None
    ):
        return
    leader = auth.find_user(session, LEADER)
    if leader is None:
        return
    _release(session)
    world = _world(session, config, leader)
    if not world.assets:
        return
    assessments, promoted = _assessments(session, world)
    made = _risks(session, world, 150 - promoted)
    _owners_since_registration(session, world, actor)
    reopened = risks.expire_acceptances(session, actor, world.today)
    audit.record(
        session, actor, "demo.assessments_loaded", object_type="assessment", assessments=assessments,
        risks=promoted + made, reopened=len(reopened),
        note="dates backdated: the rows say when each step happened, the audit entries when the demo was loaded",
    )  # fmt: skip


def _world(session: Session, config: ServiceConfig, leader: User) -> _World:
    rows = session.exec(
        select(Asset, Department.path)
        .join(Department, Department.id == Asset.department_id)
        .where(Asset.lifecycle.in_(rule.ASSESSED_LIFECYCLES))
        .order_by(Asset.code)
    ).all()
    assets = [(a, path) for a, path in rows]
    terms: dict[int, list[Responsibility]] = {}
    for chunk in chunks([a.id for a, _p in assets]):
        for term in session.exec(
            select(Responsibility)
            .where(Responsibility.subject_type == ASSET, Responsibility.duty == ASSET_OWNER)
            .where(Responsibility.subject_id.in_(chunk))
            .order_by(Responsibility.valid_from, Responsibility.id)
        ).all():
            terms.setdefault(term.subject_id, []).append(term)
    people = {
        u.id: u for u in session.exec(select(User).where(User.id.in_({t.user_id for ts in terms.values() for t in ts})))
    }
    return _World(
        today=services.today_utc(),
        rng=random.Random(2012),  # noqa: S311 - demo data, not security: the same city every time
        method=rule.method(session, config),
        leader=Actor.of(leader, "cli"),
        assets=[(a, path) for a, path in assets if a.id in terms],
        graded=schedule.graded_on(session, [a.id for a, _p in assets]),
        tz=config.timezone,
        terms=terms,
        people=people,
    )


# Records the loader is done with once written: forgotten by the session after each step, so that
# each flush and query does not go over the thousands of rows the demo wrote before (the asset
# demo's controls, the audit entries).
WRITTEN = (
    AssetControl, AuditEntry, Responsibility, Assessment, AssessmentArea, AssessmentControl, AssessmentFinding,
    Risk, RiskAcceptance, RiskReview,
)  # fmt: skip


def _release(session: Session) -> None:
    session.flush()
    for obj in list(session.identity_map.values()):
        if isinstance(obj, WRITTEN):
            session.expunge(obj)


def _owner(world: _World, asset_id: int, day: date) -> Actor:
    """The asset's owner on that day (its first owner before it was registered), acting."""
    at = _moment(day, 12)
    terms = world.terms[asset_id]
    term = next((t for t in terms if responsibility.in_force(t, at)), terms[0])
    return Actor.of(world.people[term.user_id], "cli")


def _careful(world: _World, asset_id: int, day: date) -> bool:
    """Whether the asset's owner on that day met a date due then (`secgov.demo.diligence`)."""
    return world.rng.random() < diligence(_owner(world, asset_id, day).username)


def _moment(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


def _between(world: _World, start: date, end: date) -> date:
    if end <= start:
        return start
    return start + timedelta(days=world.rng.randint(0, (end - start).days))


# --- assessments ---------------------------------------------------------------------------------


def _regrade_long_ago(session: Session, world: _World, asset: Asset) -> date:
    """An overdue system: graded 16 to 21 months ago (its CII designation too)."""
    graded = world.today - timedelta(days=world.rng.randint(480, 640))
    register_on(session, asset, _moment(graded))
    world.terms[asset.id][0].valid_from = _moment(graded)  # as register_on left it
    world.graded[asset.id] = graded
    return graded


def _plan(world: _World, asset: Asset) -> list[str]:
    """The kinds of assessment a system gets in the demo year (the scheduled ones it needs)."""
    intervals = world.method.intervals
    kinds = []
    if asset.mlps_level is not None:
        kinds.append("self_inspection")
        if intervals["mlps_evaluation"].get(str(asset.mlps_level)):
            kinds.append("mlps_evaluation")
    if asset.is_cii:
        kinds.append("cii_annual")
    return kinds


@dataclass
class _Spec:
    """One assessment of the demo year, before it is written."""

    asset: Asset
    author: Actor
    kind: str
    status: str
    started: date
    finished: date
    decided: date
    title: str
    agency: str = ""
    report_number: str = ""
    agency_score: float | None = None
    findings: list[tuple[tuple[str, str, str, str], int, int]] = field(default_factory=list)
    severe: bool = False  # its first finding, a high risk, is promoted before the approval


def _assessments(session: Session, world: _World) -> tuple[int, int]:
    """Every system's assessments of the year (see the module docstring): how many, and how many
    risks their findings became."""
    specs = _specs(session, world)
    for spec in (s for s in specs if s.status != "approved"):
        _in_workflow(session, world, spec)
        _release(session)
    promoted = _approved(session, world, [s for s in specs if s.status == "approved"])
    _release(session)
    return len(specs), promoted


def _specs(session: Session, world: _World) -> list[_Spec]:
    rng = world.rng
    eligible = [(a, p) for a, p in world.assets if _plan(world, a) and a.id in world.graded]
    # Never assessed since grading (or not since the first): mostly the careless owners' systems.
    careless = {a.id: rng.random() * diligence(_owner(world, a.id, world.today).username) for a, _p in eligible}
    overdue = set(sorted(careless, key=careless.__getitem__)[:8])
    others = [a.id for a, _p in eligible if a.id not in overdue]
    workflow = rng.sample(others, k=min(12, len(others)))
    states = dict(zip(workflow, ["draft"] * 4 + ["submitted"] * 4 + ["returned"] * 4, strict=False))
    severe_first = set(rng.sample(others, k=min(6, len(others))))
    soon = set(rng.sample([i for i in others if i not in states], k=min(3, len(others) - len(states))))
    specs = []
    for asset, _path in eligible:
        graded = world.graded[asset.id]
        if asset.is_cii and asset.cii_designated_on is not None and asset.cii_designated_on > graded:
            asset.cii_designated_on = graded  # designated when it was graded, not when the demo loaded
            session.add(asset)
        if asset.id in overdue:
            graded = _regrade_long_ago(session, world, asset)
            asset.cii_designated_on = graded if asset.is_cii else None
            session.add(asset)
        for index, kind in enumerate(_plan(world, asset)):
            months = _interval(world, asset, kind)
            status = states.get(asset.id, "approved") if index == 0 else "approved"
            if asset.id in overdue:
                if rng.random() < 0.5:
                    continue  # never assessed since grading: due at grading plus the interval, long past
                finished = graded + timedelta(days=rng.randint(20, 60))
                status = "approved"
            elif status != "approved":
                finished = _between(world, world.today - timedelta(days=20), world.today - timedelta(days=3))
            elif asset.id in soon and not index:
                # Due within the month: assessed one interval ago, give or take a few weeks.
                finished = rule.add_months(world.today, -months) + timedelta(days=rng.randint(5, 20))
            elif rule.add_months(graded, months) > world.today + timedelta(days=60) and rng.random() < 0.7:
                continue  # graded within the interval: its first one is not needed yet
            else:
                earliest = max(graded + timedelta(days=7), world.today - timedelta(days=months * 30 - 10))
                finished = _between(world, earliest, world.today - timedelta(days=12))
                due = rule.add_months(graded, months)
                if due <= world.today - timedelta(days=15):  # approved by its due date, or late
                    if _careful(world, asset.id, due):
                        finished = _between(world, max(earliest, due - timedelta(days=60)), due - timedelta(days=13))
                    else:
                        finished = _between(world, due + timedelta(days=3), world.today - timedelta(days=12))
            specs.append(
                _spec(
                    world,
                    asset,
                    _owner(world, asset.id, finished),
                    kind,
                    status,
                    finished,
                    asset.id in severe_first and not index,
                )
            )
    return specs


def _spec(world: _World, asset: Asset, author: Actor, kind: str, status: str, finished: date, severe: bool) -> _Spec:
    rng = world.rng
    started = finished - timedelta(days=rng.randint(5, 25) if kind == "self_inspection" else rng.randint(15, 40))
    spec = _Spec(
        asset=asset, author=author, kind=kind, status=status, started=started, finished=finished,
        decided=min(finished + timedelta(days=rng.randint(3, 12)), world.today - timedelta(days=1)),
        title=f"{finished.year} {TITLES[kind]}", severe=severe and status == "approved",
    )  # fmt: skip
    if kind in AGENCY_KINDS and (kind == "mlps_evaluation" or rng.random() < 0.6):
        name, prefix = rng.choice(AGENCIES)
        spec.agency, spec.report_number = name, f"{prefix}-{finished.year}-{rng.randint(100, 999)}"
        spec.agency_score = round(rng.choice((rng.uniform(62, 69), *(rng.uniform(72, 96) for _ in range(9)))), 1)
    for n in range(rng.choice((0, 0, 0, 0, 1, 1, 2)) + (1 if spec.severe else 0)):
        severe_one = spec.severe and n == 0
        likelihood, impact = (rng.randint(4, 5), rng.randint(4, 5)) if severe_one else _scale(rng)
        spec.findings.append((rng.choice(RISKS), likelihood, impact))
    return spec


TITLES = {
    "self_inspection": "年度安全自查 (annual self-check)",
    "mlps_evaluation": "等级测评 (DJCP)",
    "cii_annual": "关基年度检测评估 (CII yearly review)",
}


def _interval(world: _World, asset: Asset, kind: str) -> int:
    intervals = world.method.intervals
    if kind == "mlps_evaluation":
        return int(intervals["mlps_evaluation"][str(asset.mlps_level)])
    return int(intervals[kind])


def _in_workflow(session: Session, world: _World, spec: _Spec) -> None:
    """A draft, submitted or returned assessment, through the workflow's services."""
    rng, author = world.rng, spec.author
    a = services.create_assessment(
        session,
        AssessmentCreate(
            asset_id=spec.asset.id, kind=spec.kind, title=spec.title, assessors=[_assessor(world, author)],
            started_on=spec.started, finished_on=None if spec.status == "draft" else spec.finished,
            agency=spec.agency, report_number=spec.report_number, agency_score=spec.agency_score,
        ),
        author,
        today=world.today,
    )  # fmt: skip
    for (title, area, _threat, vulnerability), likelihood, impact in spec.findings:
        finding = FindingCreate(title=title, area=area, description=vulnerability, likelihood=likelihood, impact=impact)
        services.add_finding(session, a, finding, author)
    if spec.status != "draft":
        services.submit(session, a, author, world.method)
    if spec.status == "returned":
        services.return_assessment(session, a, AssessmentDecision(reason=rng.choice(RETURN_REASONS)), world.leader)
    _backdate_assessment(a, spec.started, spec.finished if spec.status != "draft" else None, spec.decided)


def _approved(session: Session, world: _World, specs: list[_Spec]) -> int:
    """The approved assessments, written by the batch: as `services.approve` leaves them (each
    area's rating from the asset's controls, the agency's score or the weighted mean, the
    conclusion, poor while a high risk it found was open), audited as drafted, submitted and
    approved. The risks promoted from their findings go through `risks.promote`; how many."""
    rows = []
    for spec in specs:
        a = Assessment(
            asset_id=spec.asset.id, kind=spec.kind, status="submitted", title=spec.title,
            assessors=[_assessor(world, spec.author)], started_on=spec.started, finished_on=spec.finished,
            agency=spec.agency, report_number=spec.report_number, agency_score=spec.agency_score,
            summary="见评估报告 See the assessment report", created_by=spec.author.username,
            submitted_by=spec.author.username, submitted_at=_moment(spec.finished + timedelta(days=1), 11),
            created_at=_moment(spec.started, 9), version=2,
        )  # fmt: skip
        rows.append(a)
    session.add_all(rows)
    session.flush()
    findings: list[list[AssessmentFinding]] = []
    for spec, a in zip(specs, rows, strict=True):
        findings.append(
            [
                AssessmentFinding(
                    assessment_id=a.id,
                    area=area,
                    title=title,
                    description=vulnerability,
                    likelihood=likelihood,
                    impact=impact,
                )  # fmt: skip
                for (title, area, _threat, vulnerability), likelihood, impact in spec.findings
            ]
        )
    session.add_all(f for group in findings for f in group)
    session.flush()
    promoted = 0
    severe_since: dict[int, date] = {}
    for spec, group in zip(specs, findings, strict=True):
        if spec.severe and group:
            _promote(session, world, spec.asset, group[0], spec.finished)
            promoted += 1
            day = severe_since.get(spec.asset.id)
            severe_since[spec.asset.id] = min(day, spec.finished) if day else spec.finished
    ratings = _ratings(session, {spec.asset.id for spec in specs})
    events: dict[str, list[audit.Event]] = {}
    for spec, a in zip(specs, rows, strict=True):
        computed = ratings.get(spec.asset.id, dict.fromkeys(AREA.codes))
        session.add_all(AssessmentArea(assessment_id=a.id, area=area, computed=computed[area]) for area in AREA.codes)
        if a.kind in AGENCY_KINDS and a.agency and a.agency_score is not None:
            a.score = a.agency_score
        else:
            a.score = rule.overall_score(computed, world.method.weights)
        since = severe_since.get(spec.asset.id)
        a.conclusion = rule.conclusion_of(a.score, world.method.thresholds, since is not None and since <= spec.decided)
        a.status, a.decided_by, a.decided_at, a.version = "approved", LEADER, _moment(spec.decided, 16), 3
        a.updated_at = a.decided_at
        session.add(a)
        department = spec.asset.department_id
        created = {**services._snapshot(a), "status": "draft", "score": None, "conclusion": ""}
        events.setdefault(spec.author.username, []).extend(
            [
                audit.Event("assessment.created", "assessment", a.id, department, after=created,
                            extra={"asset": spec.asset.code}),
                audit.Event("assessment.submitted", "assessment", a.id, department, before={"status": "draft"},
                            after={"status": "submitted"}, extra={"asset": spec.asset.code}),
            ]
        )  # fmt: skip
        events.setdefault(LEADER, []).append(
            audit.Event(
                "assessment.approved",
                "assessment",
                a.id,
                department,
                before={"status": "submitted"},
                after={"status": "approved"},
                extra={"asset": spec.asset.code, "score": a.score, "conclusion": a.conclusion},
            )  # fmt: skip
        )
    session.flush()
    actors = {spec.author.username: spec.author for spec in specs} | {LEADER: world.leader}
    for username, batch in events.items():
        audit.record_many(session, actors[username], batch)
    for spec, group in zip(specs, findings, strict=True):
        for finding in group[1 if spec.severe else 0 :]:
            if world.rng.random() < 0.7:
                _promote(session, world, spec.asset, finding, spec.decided)
                promoted += 1
    return promoted


def _ratings(session: Session, asset_ids: set[int]) -> dict[int, dict[str, float | None]]:
    """Each asset's area ratings from its required controls, in one query (`rule.area_rating`)."""
    statuses: dict[int, dict[str, list[str]]] = {}
    for asset_id, area, status in session.exec(
        select(AssetControl.asset_id, Control.area, AssetControl.status)
        .join(Control, Control.id == AssetControl.control_id)
        .where(AssetControl.asset_id.in_(asset_ids), AssetControl.required.is_(True))
    ).all():
        statuses.setdefault(asset_id, {code: [] for code in AREA.codes}).setdefault(area, []).append(status)
    return {
        asset_id: {area: rule.area_rating(found.get(area, [])) for area in AREA.codes}
        for asset_id, found in statuses.items()
    }


def _assessor(world: _World, author: Actor) -> str:
    """The author as the assessment names its assessors: the display name without the post."""
    return world.people[author.user_id].display_name.split(" (")[0]


def _scale(rng: random.Random) -> tuple[int, int]:
    weights = (1, 3, 4, 3, 1)
    return rng.choices(range(1, 6), weights)[0], rng.choices(range(1, 6), weights)[0]


def _promote(session: Session, world: _World, asset: Asset, finding, day: date) -> Risk:
    """The finding promoted on that day by the asset's owner then, who owns the risk."""
    author = _owner(world, asset.id, day)
    promotion = Promotion(source="assessment_finding", source_id=finding.id, owner=author.username)
    risk = risks.promote(session, promotion, author, world.method, today=day)
    risk.created_at = risk.updated_at = _moment(day, 15)
    session.add(risk)
    world.made.append(risk.id)
    return risk


def _backdate_assessment(a: Assessment, started: date, finished: date | None, decided: date | None) -> None:
    a.created_at = _moment(started, 9)
    a.updated_at = a.created_at
    if a.submitted_at is not None and finished is not None:
        a.submitted_at = a.updated_at = _moment(finished + timedelta(days=1), 11)
    if a.decided_at is not None and decided is not None:
        a.decided_at = a.updated_at = _moment(decided, 16)


# --- risks ---------------------------------------------------------------------------------------

# How the risks entered by hand are spread over the states (the rest stay open).
STATES = (
    ("closed", 36),
    ("accepted", 13),
    ("accepted_expiring", 3),
    ("accepted_lapsed", 8),
    ("in_treatment", 24),
    ("in_treatment_late", 12),
)


def _risks(session: Session, world: _World, total: int) -> int:
    """Risks entered by hand over the past year, in every state (see the module docstring): all
    registered by `risks.create_risks`, a batch for each owner (checked as of the earliest day,
    then each moved to its own), then accepted, reviewed and closed through the services, on
    their days."""
    rng = world.rng
    states = [state for state, n in STATES for _ in range(n)]
    states += ["open"] * max(0, total - len(states))
    rng.shuffle(states)
    plans = [_risk_plan(world, state) for state in states[:total]]
    authors = {p.data.owner: _owner(world, p.data.asset_id, p.created) for p in plans}
    for owner, author in sorted(authors.items()):
        mine = [p for p in plans if p.data.owner == owner]
        made = risks.create_risks(
            session, [p.data for p in mine], author, world.method, today=min(p.created for p in mine)
        )
        for plan, risk in zip(mine, made, strict=True):
            plan.risk_id = risk.id
            world.made.append(risk.id)
            risk.created_on, risk.created_at = plan.created, _moment(plan.created, 10)
            risk.updated_at = risk.created_at
            session.add(risk)
    session.flush()
    for plan in plans:
        if plan.state.startswith("accepted") or plan.state == "closed" or rng.random() < 0.25:
            _follow_up(session, world, plan)
            _release(session)
    return len(plans)


def _owners_since_registration(session: Session, world: _World, actor: Actor) -> None:
    """The risks' owners' terms begin when the risks were registered; a risk still open when its
    system was handed over went with it, at that moment (`secgov.responsibility.assign`: the
    system writing the demo's history)."""
    for chunk in chunks(world.made):
        session.exec(
            update(Responsibility)
            .where(Responsibility.subject_type == risks.SUBJECT, Responsibility.subject_id.in_(chunk))
            .values(valid_from=select(Risk.created_at).where(Risk.id == Responsibility.subject_id).scalar_subquery())
        )
    _release(session)
    now = datetime.now(UTC)
    for chunk in chunks(world.made):
        rows = session.exec(
            select(Risk.id, Risk.asset_id, Risk.created_at, Risk.closed_at, Asset.department_id)
            .join(Asset, Asset.id == Risk.asset_id)
            .where(Risk.id.in_(chunk))
            .order_by(Risk.id)
        ).all()
        for row in rows:
            ended = row.closed_at or now
            for term in world.terms[row.asset_id]:
                if row.created_at < term.valid_from < ended:
                    responsibility.assign(
                        session, risks.SUBJECT, row.id, risks.OWNER, world.people[term.user_id], actor,
                        reason=term.reason, department_id=row.department_id, at=term.valid_from,
                    )  # fmt: skip


@dataclass
class _RiskPlan:
    state: str
    created: date
    data: RiskCreate
    risk_id: int = 0


def _risk_plan(world: _World, state: str) -> _RiskPlan:
    rng, today = world.rng, world.today
    if state == "accepted_lapsed":
        created = today - timedelta(days=rng.randint(300, 380))
    elif state in ("closed", "in_treatment_late"):
        created = today - timedelta(days=rng.randint(120, 360))
    else:
        created = today - timedelta(days=rng.randint(10, 360))
    # On a system registered by then; left untreated past its due date: mostly a careless owner's.
    systems = [a for a, _path in world.assets if a.created_at.date() < created] or [a for a, _p in world.assets]
    if state == "in_treatment_late":
        careless = [1.02 - diligence(_owner(world, a.id, today).username) for a in systems]
        asset = rng.choices(systems, careless)[0]
    else:
        asset = rng.choice(systems)
    title, area, threat, vulnerability = rng.choice(RISKS)
    likelihood, impact = _scale(rng)
    if state.startswith("accepted") and rng.random() < 0.35:
        likelihood, impact = rng.randint(4, 5), rng.randint(4, 5)  # a high risk, accepted by the leader
    treated = state.startswith("in_treatment") or state == "closed"
    due = None
    if state == "in_treatment_late":
        due = _between(world, created + timedelta(days=30), today - timedelta(days=3))
    elif state == "in_treatment":
        due = today + timedelta(days=rng.randint(10, 200))
    elif state == "closed":
        due = created + timedelta(days=rng.randint(30, 90))
    owner = _owner(world, asset.id, created).username
    residual = (max(1, likelihood - rng.randint(1, 2)), max(1, impact - rng.randint(0, 1))) if treated else (None, None)
    data = RiskCreate(
        asset_id=asset.id, title=title, area=area, threat=threat, vulnerability=vulnerability,
        likelihood=likelihood, impact=impact, treatment="reduce", treatment_plan=rng.choice(PLANS) if treated else "",
        due_date=due, status="in_treatment" if treated else "open", residual_likelihood=residual[0],
        residual_impact=residual[1], owner=owner,
    )  # fmt: skip
    return _RiskPlan(state, created, data)


def _follow_up(session: Session, world: _World, plan: _RiskPlan) -> None:
    """What became of a risk after its registration: accepted, reviewed or closed, on its day."""
    rng, today, state = world.rng, world.today, plan.state
    risk = session.get(Risk, plan.risk_id)
    asset_id = plan.data.asset_id
    last = plan.created
    if state.startswith("accepted"):
        accepted_on = plan.created + timedelta(days=rng.randint(5, 30))
        author = _owner(world, asset_id, accepted_on)
        if state == "accepted_lapsed":
            expires = today - timedelta(days=rng.randint(5, 60))
        elif state == "accepted_expiring":
            expires = today + timedelta(days=rng.randint(5, 25))
        else:
            expires = today + timedelta(days=rng.randint(60, 330))
        severe = risk.level in ("high", "very_high")
        row = risks.accept(
            session, risk, AcceptanceCreate(reason=rng.choice(ACCEPT_REASONS), expires_on=expires),
            world.leader if severe else author, ("leader",) if severe else ("officer",), today=accepted_on,
        )  # fmt: skip
        row.accepted_at = _moment(accepted_on, 14)
        session.add(row)
        last = accepted_on
    elif state != "closed":
        reviewed = plan.created + timedelta(days=rng.randint(20, 120))
        if reviewed < today:
            row = risks.review(
                session, risk, ReviewCreate(note="已复查，措施推进中 Reviewed; work in progress"),
                _owner(world, asset_id, reviewed),
                world.method, today=reviewed,
            )  # fmt: skip
            row.created_at = _moment(reviewed, 11)
            session.add(row)
            last = reviewed
    if state == "closed":
        # By its due date (its owner then careful), or some weeks late.
        due = plan.data.due_date
        if _careful(world, asset_id, due):
            last = max(plan.created + timedelta(days=7), due - timedelta(days=rng.randint(0, 25)))
        else:
            last = min(due + timedelta(days=rng.randint(5, 45)), today - timedelta(days=1))
        risks.update_risk(
            session, risk, RiskUpdate(version=risk.version, status="closed", reason="整改完成 Remedied"),
            _owner(world, asset_id, last), world.method,
        )  # fmt: skip
        risk.closed_at = day_start(last, world.tz) + timedelta(hours=16)  # in the afternoon, the city's time
    risk.updated_at = _moment(last, 17)
    session.add(risk)
