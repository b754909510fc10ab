"""The demo city: departments, one user per role, and each domain's demo data."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from secgov import auth, localtime, responsibility
from secgov.accountability import appraisal
from secgov.accountability.measures import Measure
from secgov.authz import Actor
from secgov.config import ServiceConfig
from secgov.directory import DepartmentCreate, UserCreate, UserUpdate, create_department, create_user, update_user
from secgov.models import Department, Responsibility, User

# A domain's demo loader: adds its records in the caller's transaction (see secgov.registry).
DemoLoader = Callable[[Session, Actor, ServiceConfig], Any]

# code, parent, kind, name, English name
DEPARTMENTS = [
    ("city", None, "city", "海滨市人民政府", "Haibin Municipal Government"),
    ("cyber", "city", "bureau", "市委网信办", "Municipal Cyberspace Affairs Office"),
    ("egov", "city", "bureau", "市政务服务和数据管理局", "Government Services and Data Administration"),
    ("egov-dc", "egov", "unit", "市大数据中心", "Municipal Big Data Centre"),
    ("transport", "city", "bureau", "市交通运输局", "Transport Bureau"),
    ("transport-signal", "transport", "unit", "交通信号控制中心", "Traffic Signal Control Centre"),
    ("transport-metro", "transport", "unit", "轨道交通运营中心", "Metro Operations Centre"),
    ("water", "city", "bureau", "市水务局", "Water Authority"),
    ("water-supply", "water", "unit", "自来水供水调度中心", "Water Supply Dispatch Centre"),
    ("health", "city", "bureau", "市卫生健康委员会", "Health Commission"),
    ("health-hospital", "health", "unit", "市第一人民医院", "First People's Hospital"),
    ("health-ems", "health", "unit", "市急救指挥中心", "Emergency Medical Dispatch Centre"),
    ("police", "city", "bureau", "市公安局", "Public Security Bureau"),
    ("energy", "city", "bureau", "市能源局", "Energy Bureau"),
    ("energy-grid", "energy", "unit", "城市配电调度中心", "City Grid Dispatch Centre"),
    ("finance", "city", "bureau", "市地方金融管理局", "Local Financial Administration"),
    ("utilities", "city", "bureau", "市城市管理局", "Urban Management Bureau"),
]

# username, display name, roles, department
USERS = [
    ("admin", "系统管理员 System Administrator", ["admin"], "city"),
    ("officer", "王安 Wang An (security officer)", ["officer"], "city"),
    ("officer.transport", "李通 Li Tong (transport security officer)", ["officer"], "transport"),
    ("leader", "陈明 Chen Ming (deputy mayor)", ["leader"], "city"),
    ("drill", "赵演 Zhao Yan (drill team)", ["drill_team"], "city"),
    ("auditor", "周审 Zhou Shen (auditor)", ["auditor"], "city"),
]

# The bureaus' heads (leaders of their bureau): username, display name, bureau. They do not sign in
# in the demo (their passwords are not printed); they hold the heads' duties.
HEADS = [
    ("head.cyber", "刘网 Liu Wang (director)", "cyber"),
    ("head.egov", "孙数 Sun Shu (director)", "egov"),
    ("head.transport", "吴路 Wu Lu (director)", "transport"),
    ("head.water", "郑泉 Zheng Quan (director)", "water"),
    ("head.health", "冯康 Feng Kang (director)", "health"),
    ("head.police", "韩警 Han Jing (director)", "police"),
    ("head.energy", "许电 Xu Dian (director)", "energy"),
    ("head.finance", "何金 He Jin (director)", "finance"),
    ("head.utilities", "曹城 Cao Cheng (director)", "utilities"),
]

# The bureaus' security officers, who own their bureau's systems and risks (the city's officer
# keeps the cyberspace office's, the transport officer the transport bureau's): username, display
# name, department. Like the heads they do not sign in in the demo (their passwords are not printed).
OFFICERS = [
    ("officer.egov", "杨政 Yang Zheng (e-government security officer)", "egov"),
    ("officer.water", "林溪 Lin Xi (water security officer)", "water"),
    ("officer.health", "黄医 Huang Yi (health security officer)", "health"),
    ("officer.police", "马盾 Ma Dun (police security officer)", "police"),
    ("officer.energy", "高峰 Gao Feng (energy security officer)", "energy"),
    ("officer.finance", "钱立 Qian Li (finance security officer)", "finance"),
    ("officer.utilities", "罗平 Luo Ping (urban management security officer)", "utilities"),
    ("officer.metro", "宋轨 Song Gui (metro security officer)", "transport-metro"),
]

# How well each owner keeps their dates: the share of due dates (a risk's treatment, a scheduled
# assessment) they meet. The domains' demos draw from it, so that the appraisal finds a realistic
# mix of good and poor records and the bureaus' scores differ. Anyone else: DILIGENCE_DEFAULT.
DILIGENCE = {
    "officer": 0.6,
    "officer.transport": 0.85,
    "officer.egov": 0.95,
    "officer.water": 0.9,
    "officer.health": 0.9,
    "officer.police": 0.95,
    "officer.energy": 0.3,
    "officer.finance": 0.45,
    "officer.utilities": 0.3,
    "officer.metro": 1.0,
}
DILIGENCE_DEFAULT = 0.8


def diligence(username: str) -> float:
    """How often this demo owner meets a due date (DILIGENCE)."""
    return DILIGENCE.get(username, DILIGENCE_DEFAULT)


def last_quarter(today: date) -> tuple[date, date]:
    """The first and last days of the quarter before today's."""
    first = today.replace(day=1, month=3 * ((today.month - 1) // 3) + 1)
    last = first - timedelta(days=1)
    return last.replace(day=1, month=3 * ((last.month - 1) // 3) + 1), last


def load_demo(
    session: Session, config: ServiceConfig, loaders: Sequence[DemoLoader], measures: Sequence[Measure] = ()
) -> list[tuple[str, str, str, str]]:
    """Create what is missing and reset the demo users' passwords, then run each domain's demo
    loader (the registry's), in the caller's transaction; then the deputy mayor closes the last
    quarter's appraisal (with the registry's measures). Returns the logins to print."""
    actor = Actor.system("cli")
    logins = []
    existing = {d.code for d in session.exec(select(Department)).all()}
    for code, parent, kind, name, name_en in DEPARTMENTS:
        if code not in existing:
            create_department(
                session, DepartmentCreate(code=code, parent=parent, kind=kind, name=name, name_en=name_en), actor
            )
    for username, display, roles, dept in USERS:
        password = secrets.token_urlsafe(12)
        user = auth.find_user(session, username)
        if user is None:
            create_user(
                session,
                UserCreate(username=username, display_name=display, department=dept, roles=roles, password=password),
                actor,
            )
        else:
            auth.set_password(session, user, password, actor)
            update_user(session, user, UserUpdate(roles=roles, disabled=False, version=user.version), actor)
        logins.append((username, ",".join(roles), dept, password))
    for group, role in ((HEADS, "leader"), (OFFICERS, "officer")):
        for username, display, dept in group:
            if auth.find_user(session, username) is None:
                password = secrets.token_urlsafe(12)
                create_user(
                    session,
                    UserCreate(
                        username=username, display_name=display, department=dept, roles=[role], password=password
                    ),
                    actor,
                )
    _accountability(session, actor)
    for load in loaders:
        load(session, actor, config)
    if measures:
        _closed_appraisal(session, config, measures)
    return logins


def _closed_appraisal(session: Session, config: ServiceConfig, measures: Sequence[Measure]) -> None:
    """The last quarter's appraisal, closed by the deputy mayor (once: a later run of the demo
    finds it closed and leaves it)."""
    today = localtime.local(datetime.now(UTC), config.timezone).date()
    code = appraisal.quarter_of(last_quarter(today)[1])
    if appraisal.stored_period(session, code) is not None:
        return
    leader = auth.find_user(session, "leader")
    appraisal.close(session, Actor.of(leader, "cli"), leader.roles, measures, code, config)


def _accountability(session: Session, actor: Actor) -> None:
    """The chief (the deputy mayor), a head for every bureau and the city's own department, and a
    history: the transport bureau's head replaced months ago, the water authority's head first
    recorded wrongly and corrected. The assignment service refuses to backdate (people never
    may), so this fixture, the system writing its own history, goes through
    `secgov.responsibility.assign` with past moments. Once only: a second run changes nothing."""
    if session.exec(select(Responsibility.id).where(Responsibility.subject_type == "city")).first() is not None:
        return
    depts = {d.code: d for d in session.exec(select(Department)).all()}
    people = {u.username: u for u in session.exec(select(User)).all()}
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    city = depts["city"]

    def give(subject_type, dept, duty, username, days_ago, reason, corrects=None):
        return responsibility.assign(
            session,
            subject_type,
            dept.id,
            duty,
            people[username],
            actor,
            reason=reason,
            department_id=dept.id,
            at=now - timedelta(days=days_ago),
            corrects=corrects,
        )

    give("city", city, "chief", "leader", 400, "Appointed by the municipal party committee")
    give("department", city, "head", "leader", 400, "Appointed by the municipal party committee")
    for username, _display, code in HEADS:
        if code not in ("transport", "water"):
            give("department", depts[code], "head", username, 380, "Appointed with the bureau's leadership team")
    transport = depts["transport"]
    give("department", transport, "head", "officer.transport", 380, "Acting head while the post was vacant")
    give(
        "department",
        transport,
        "head",
        "head.transport",
        150,
        "Director appointed; the acting head returns to security work",
    )
    water = depts["water"]
    wrong = give("department", water, "head", "officer", 200, "Appointed with the bureau's leadership team")
    give(
        "department", water, "head", "head.water", 195, "Recorded the city's officer by mistake: the director is the head",
        corrects=wrong,
    )  # fmt: skip
