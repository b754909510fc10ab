"""The demo city: departments, one user per role, and each domain's demo data."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from typing import Any

from sqlmodel import Session, select

from secgov import auth
from secgov.authz import Actor
from secgov.config import ServiceConfig
from secgov.directory import DepartmentCreate, UserCreate, UserUpdate, create_department, create_user, update_user
from secgov.models import Department

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


def load_demo(
    session: Session, config: ServiceConfig, loaders: Sequence[DemoLoader]
) -> list[tuple[str, str, str, str]]:
    """Create what is missing and reset the demo users' passwords, then run each domain's demo
    loader (the registry's), in the caller's transaction. Returns the logins to print."""
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
    for load in loaders:
        load(session, actor, config)
    return logins
