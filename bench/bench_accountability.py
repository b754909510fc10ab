"""`make bench` (accountability): the accountability matrix and the appraisal at thousands of systems, each beside its limit.

A scratch database (SQLite in a temporary folder, or a scratch database on the loopback
PostgreSQL of --database-url) migrated as `db upgrade` does, with the demo city's departments,
users and systems, then in bulk: --people officers spread over the departments, --assets systems
(most graded, some CII) each with an owner's term (some reassigned, a few with nobody), approved
assessments for half of the graded ones, live and closed risks with their remediation owners
(a good share overdue), drills covering the CII systems with their leads and corrective actions,
and the heads of the departments and the city's chief. Then, as the city's administrator (the
whole city in scope), through the API in-process (Flask's test client, a bearer token):

- `GET /api/v1/accountability/matrix` page 1;
- the same filtered: one bureau's subtree, the overdue rows only;
- `GET /api/v1/accountability_matrix/export?format=csv`, every row of the city;
- `secgov.accountability.appraisal.appraise` for the last quarter with the registry's measures.

Each: the median of several repetitions after a warm-up, and the SQL statements it runs, counted
once at the demo's size and once at the full size (bounded: at most the demo size's count times
the batches of 500 systems that secgov.db.chunks makes). The limit, measured in the same run: the bare read of the
matrix's rows (one SQLAlchemy Core statement: every system in scope with its department and its
owner's name, no ORM, no rule) — the matrix cannot be cheaper than listing what it shows.

The report on stdout and in bench/results/accountability.json.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import harness

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = Path(__file__).resolve().parent / "results"
# Seconds: a page of the matrix is what a leader waits for; the export and the appraisal read the
# whole city.
GOALS = {"matrix_page": 1.0, "matrix_filtered": 1.0, "matrix_csv": 5.0, "appraisal_quarter": 5.0}
# Statements: the matrix's columns read their cells in a number of statements that does not grow
# with the rows beyond one batch per 500 (secgov.db.chunks); the goal at the full size is the
# count at the demo's size (one batch) times the number of batches of the city's systems.
CHUNK = 500
SECTORS = ("government", "energy", "transport", "finance", "water", "health")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--assets", type=int, default=3000, help="synthetic systems beside the demo's (3000)")
    add("--people", type=int, default=300, help="synthetic officers (300)")
    add("--repeats", type=int, default=5, help="timed repetitions of each (5)")
    add(
        "--database-url", default=None, help="a loopback PostgreSQL server (postgresql+psycopg://…): a scratch database"
    )
    add("--output", type=Path, default=RESULTS / "accountability.json", help="the JSON report")
    add("--strict", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args(argv)
    if args.assets < 10 or args.people < 1 or args.repeats < 1:
        parser.error("--assets at least 10, --people and --repeats at least 1")
    return args


def make_app(folder: Path, url: str):
    from secgov import domains
    from secgov.app import create_app
    from secgov.db import upgrade

    upgrade(url, catalogs=domains.registry().catalogs)
    return create_app(
        {
            "DATABASE_URL": url,
            "SECRET_KEY": secrets.token_urlsafe(48),
            "SECGOV_DATA_KEYS": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            "SECGOV_INSTANCE_PATH": str(folder / "instance"),
            "REDIS_URL": None,
        }
    )


def load_city(app) -> None:
    """The demo city's departments, users and systems."""
    from secgov import domains
    from secgov.config import ServiceConfig
    from secgov.db import write_session
    from secgov.demo import load_demo

    with app.app_context(), write_session(app.extensions["secgov_engine"]) as session:
        load_demo(
            session,
            ServiceConfig.from_mapping(app.config),
            [d for d in domains.registry().demos if d.__module__ == "assets.demo"],
        )


def populate(app, args: argparse.Namespace) -> dict:
    """The synthetic city, in bulk (see the module's docstring)."""
    from sqlalchemy import insert
    from sqlmodel import select

    from assessments.codes import LEVELS
    from assessments.models import Assessment, Risk
    from assets.models import Asset, AssetGrade
    from drills.models import CorrectiveAction, Drill, DrillAsset, DrillDepartment
    from secgov.db import write_session
    from secgov.models import Department, Responsibility, User, UserRole

    rng = random.Random(2026)  # noqa: S311 - synthetic data, the same every run
    engine = app.extensions["secgov_engine"]
    started = time.perf_counter()
    now = datetime.now(UTC).replace(microsecond=0)
    today = now.date()
    counts: dict[str, int] = {}
    with app.app_context(), write_session(engine) as session:
        departments = session.exec(select(Department.id, Department.parent_id).order_by(Department.id)).all()
        dept_ids = [d for d, _p in departments]
        root = next(d for d, parent in departments if parent is None)
        session.execute(
            insert(User),
            [{"username": f"bench.officer{n:04d}", "display_name": f"Officer {n}", "department_id": rng.choice(dept_ids),
              "password_hash": "!", "created_at": now} for n in range(args.people)],
        )  # fmt: skip
        people = session.exec(
            select(User.id, User.department_id).where(User.username.startswith("bench.")).order_by(User.id)
        ).all()
        session.execute(insert(UserRole), [{"user_id": u, "role": "officer"} for u, _d in people])
        by_dept: dict[int, list[int]] = {}
        for user_id, dept_id in people:
            by_dept.setdefault(dept_id, []).append(user_id)
        user_ids = [u for u, _d in people]

        def someone(dept_id: int) -> int:
            return rng.choice(by_dept.get(dept_id) or user_ids)

        terms: list[dict] = []

        def hold(subject_type: str, subject_id: int, duty: str, user_id: int, since: datetime, history: bool = False):
            if history:  # an earlier holder, reassigned
                handover = since + timedelta(days=rng.randint(30, 300))
                terms.append({"subject_type": subject_type, "subject_id": subject_id, "duty": duty,
                              "user_id": rng.choice(user_ids), "valid_from": since, "valid_to": handover,
                              "assigned_by": "admin", "reason": "bench"})  # fmt: skip
                since = handover
            terms.append({"subject_type": subject_type, "subject_id": subject_id, "duty": duty, "user_id": user_id,
                          "valid_from": since, "valid_to": None, "assigned_by": "admin", "reason": "bench"})  # fmt: skip

        long_ago = now - timedelta(days=4 * 365)
        for dept_id in dept_ids:
            hold("department", dept_id, "head", someone(dept_id), long_ago, history=rng.random() < 0.3)
        hold("city", root, "chief", someone(root), long_ago, history=True)

        rows = []
        for n in range(args.assets):
            cii = rng.random() < 0.15
            rows.append({
                "code": f"BENCH-AC-{n:05d}", "name": f"bench system {n}", "sector": rng.choice(SECTORS),
                "department_id": rng.choice(dept_ids), "mlps_level": rng.choice((None, 1, 2, 2, 3, 3, 3, 4)),
                "is_cii": cii, "cii_designated_on": today - timedelta(days=rng.randint(30, 800)) if cii else None,
                "lifecycle": "operational" if rng.random() < 0.95 else "building", "network_targets": [],
                "expected_ports": [], "mlps_extensions": [], "created_at": now, "updated_at": now,
            })  # fmt: skip
        session.execute(insert(Asset), rows)
        assets = session.exec(
            select(Asset.id, Asset.department_id, Asset.mlps_level, Asset.is_cii)
            .where(Asset.code.startswith("BENCH-AC-"))
            .order_by(Asset.id)
        ).all()
        grades, assessments, risks = [], [], []
        for asset_id, dept_id, level, _cii in assets:
            if rng.random() < 0.96:  # a few systems nobody owns
                hold("asset", asset_id, "owner", someone(dept_id), long_ago + timedelta(days=rng.randint(0, 500)),
                     history=rng.random() < 0.2)  # fmt: skip
            if level:
                graded = now - timedelta(days=rng.randint(30, 4 * 365))
                grades.append({"asset_id": asset_id, "mlps_level": level, "changed_at": graded, "changed_by": "admin"})
                if rng.random() < 0.5:
                    finished = today - timedelta(days=rng.randint(5, 700))
                    assessments.append({
                        "asset_id": asset_id, "kind": rng.choice(("mlps_evaluation", "self_inspection")),
                        "status": "approved", "title": "bench", "assessors": [], "started_on": finished - timedelta(days=20),
                        "finished_on": finished, "created_by": "admin", "created_at": now, "decided_by": "admin",
                        "decided_at": datetime.combine(finished, datetime.min.time(), UTC), "updated_at": now,
                    })  # fmt: skip
            for _r in range(rng.choice((0, 0, 1, 1, 2, 3))):
                live = rng.random() < 0.7
                risks.append({
                    "asset_id": asset_id, "title": "bench risk", "likelihood": 3, "impact": 3, "level": rng.choice(LEVELS),
                    "due_date": today + timedelta(days=rng.randint(-150, 180)), "status": "open" if live else "closed",
                    "closed_at": None if live else now - timedelta(days=rng.randint(1, 200)), "created_by": "admin",
                    "created_on": today - timedelta(days=rng.randint(180, 600)), "created_at": now, "updated_at": now,
                    "_owner": someone(dept_id),
                })  # fmt: skip
        session.execute(insert(AssetGrade), grades)
        if assessments:
            session.execute(insert(Assessment), assessments)
        session.execute(insert(Risk), [{k: v for k, v in r.items() if k != "_owner"} for r in risks])
        risk_ids = session.exec(select(Risk.id).where(Risk.title == "bench risk").order_by(Risk.id)).all()
        for risk_id, risk in zip(risk_ids, risks, strict=True):
            hold("risk", risk_id, "owner", risk["_owner"], now - timedelta(days=rng.randint(100, 600)))
        cii = [(a, d) for a, d, _l, c in assets if c]
        drills, scope, scope_depts, actions = [], [], [], []
        first_drill = (session.exec(select(Drill.id).order_by(Drill.id.desc())).first() or 0) + 1
        for n in range(len(cii)):
            drill_id = first_drill + n
            dept_id = cii[n][1]
            planned = rng.random() < 0.2
            start = now + timedelta(days=rng.randint(5, 120)) if planned else now - timedelta(days=rng.randint(10, 500))
            drills.append({
                "id": drill_id, "department_id": dept_id, "title": f"bench drill {n}", "scenario": "",
                "exercise_type": "tabletop", "incident_grade": "III", "lead_id": someone(dept_id),
                "planned_start": start, "duration_minutes": 120, "status": "planned" if planned else "completed",
                "started_at": None if planned else start, "ended_at": None if planned else start + timedelta(hours=2),
                "completed_at": None if planned else start + timedelta(hours=2), "aar_status": "approved",
                "created_by": "admin", "created_at": start - timedelta(days=30), "updated_at": start,
            })  # fmt: skip
            hold("drill", drill_id, "lead", drills[-1]["lead_id"], start - timedelta(days=30))
            for asset_id, _d in rng.sample(cii, min(len(cii), rng.randint(1, 3))):
                scope.append({"drill_id": drill_id, "asset_id": asset_id})
            scope_depts.append({"drill_id": drill_id, "department_id": dept_id})
            if not planned:
                for k in range(rng.randint(0, 3)):
                    due = start.date() + timedelta(days=rng.randint(14, 200))
                    status = rng.choice(("open", "in_progress", "closed", "closed"))
                    actions.append({
                        "drill_id": drill_id, "department_id": dept_id, "title": f"bench action {n}.{k}",
                        "description": "", "owner_id": someone(dept_id), "due_date": due, "status": status, "note": "",
                        "closed_at": now - timedelta(days=rng.randint(0, 60)) if status == "closed" else None,
                        "created_by": "admin", "created_at": start, "updated_at": now,
                    })  # fmt: skip
        if drills:
            session.execute(insert(Drill), drills)
            session.execute(insert(DrillAsset), scope)
            session.execute(insert(DrillDepartment), scope_depts)
        if actions:
            session.execute(insert(CorrectiveAction), actions)
            for action_id, owner, created in session.exec(
                select(CorrectiveAction.id, CorrectiveAction.owner_id, CorrectiveAction.created_at)
                .where(CorrectiveAction.title.startswith("bench action"))
                .order_by(CorrectiveAction.id)
            ).all():
                hold("corrective_action", action_id, "owner", owner, created)
        session.execute(insert(Responsibility), terms)
        counts = {
            "systems": len(assets), "people": len(people), "assessments": len(assessments), "risks": len(risks),
            "overdue_risks": sum(1 for r in risks if r["status"] == "open" and r["due_date"] < today),
            "drills": len(drills), "corrective_actions": len(actions), "terms": len(terms),
        }  # fmt: skip
    counts["populate_seconds"] = round(time.perf_counter() - started, 2)
    return counts


class Statements:
    """The SQL statements an engine runs, counted from the last take."""

    def __init__(self, engine) -> None:
        from sqlalchemy import event

        self.engine, self.count = engine, 0
        event.listen(engine, "before_cursor_execute", self._note)

    def _note(self, *_args) -> None:
        self.count += 1

    def take(self) -> int:
        taken, self.count = self.count, 0
        return taken

    def remove(self) -> None:
        from sqlalchemy import event

        event.remove(self.engine, "before_cursor_execute", self._note)


def _quarter(now: datetime) -> str:
    """The last whole quarter's code."""
    first_month = 3 * ((now.month - 1) // 3) + 1
    start = now.replace(month=first_month, day=1) - timedelta(days=1)
    return f"{start.year}-Q{(start.month - 1) // 3 + 1}"


def operations(app):
    """name -> a callable that does it once and returns a summary of the answer."""
    from sqlmodel import select

    from secgov import auth
    from secgov.accountability import appraisal
    from secgov.authz import Actor
    from secgov.config import ServiceConfig
    from secgov.db import new_session, write_session
    from secgov.models import Department, User

    engine = app.extensions["secgov_engine"]
    config = ServiceConfig.from_mapping(app.config)
    registry = app.extensions["secgov_registry"]
    with app.test_request_context(), write_session(engine) as session:
        admin = auth.find_user(session, "admin")
        _token, plain = auth.create_token(session, admin, "bench", Actor.system("cli"))
        bureau = session.exec(
            select(Department.code).where(Department.parent_id.is_not(None)).order_by(Department.path)
        ).first()
    headers = {"Authorization": f"Bearer {plain}", "Accept-Language": "en"}
    client = app.test_client()
    quarter = _quarter(datetime.now(UTC))

    def get(path: str):
        def run():
            response = client.get(path, headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"{path}: {response.status_code} {response.get_data(as_text=True)[:300]}")
            if path.endswith("format=csv"):
                return {"lines": response.get_data(as_text=True).count("\n") - 1}
            body = response.get_json()
            return {"items": len(body["items"]), "total": body["total"], "overdue_rows": body["totals"]["overdue"]}

        return run

    def appraise():
        with app.test_request_context(headers={"Accept-Language": "en"}), new_session(engine, write=False) as session:
            admin = session.exec(select(User).where(User.username == "admin")).one()
            found = appraisal.appraise(session, Actor.of(admin, "cli"), admin.roles, registry.measures, quarter, config)
            return {"period": quarter, "outcomes": len(found.outcomes), "people": len(found.people),
                    "departments": len(found.departments)}  # fmt: skip

    return {
        "matrix_page": get("/api/v1/accountability/matrix"),
        "matrix_filtered": get(f"/api/v1/accountability/matrix?department={bureau}&state=overdue"),
        "matrix_csv": get("/api/v1/accountability_matrix/export?format=csv"),
        "appraisal_quarter": appraise,
    }


def bare_rows(app):
    """The limit: every system in scope (the city's) with its department and its owner's name, in
    one SQLAlchemy Core statement, fetched."""
    from sqlalchemy import and_, select

    from assets.models import Asset
    from secgov.models import Department, Responsibility, User

    engine = app.extensions["secgov_engine"]
    asset, dept, term, user = Asset.__table__, Department.__table__, Responsibility.__table__, User.__table__
    statement = (
        select(asset.c.id, asset.c.code, asset.c.name, dept.c.code, dept.c.name, asset.c.sector, user.c.username)
        .join(dept, dept.c.id == asset.c.department_id)
        .outerjoin(
            term,
            and_(
                term.c.subject_type == "asset",
                term.c.subject_id == asset.c.id,
                term.c.duty == "owner",
                term.c.valid_to.is_(None),
            ),
        )  # fmt: skip
        .outerjoin(user, user.c.id == term.c.user_id)
        .where(asset.c.lifecycle != "retired")
        .order_by(dept.c.path, asset.c.code)
    )

    def run():
        with engine.connect() as conn:
            return {"rows": len(conn.execute(statement).all())}

    return run


def timed(run, repeats: int) -> tuple[list[float], list[float], dict]:
    """Wall seconds and this process's CPU seconds of each repetition (the CPU time is what a busy
    machine disturbs least: the work is all in this process, the database included on SQLite)."""
    answer = run()  # warm-up
    times, cpu = [], []
    for _n in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        run()
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return times, cpu, answer


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="secgov-bench-accountability-"))
    database = harness.ScratchDatabase(folder, args.database_url)
    try:
        app = make_app(folder, database.url)
        load_city(app)
        engine = app.extensions["secgov_engine"]
        statements = Statements(engine)
        try:
            small = {}
            for name, run in operations(app).items():  # at the demo's size
                statements.take()
                run()
                small[name] = statements.take()
            data = populate(app, args)
            results: dict[str, dict] = {}
            limit_times, limit_cpu, limit_answer = timed(bare_rows(app), args.repeats)
            limit = statistics.median(limit_times)
            batches = -(-limit_answer["rows"] // CHUNK)
            for name, run in operations(app).items():
                statements.take()
                run()
                count = statements.take()
                times, cpu, answer = timed(run, args.repeats)
                median = statistics.median(times)
                results[name] = {
                    "seconds": [round(t, 4) for t in times],
                    "cpu_median": round(statistics.median(cpu), 4), "median": round(median, 4), "goal": GOALS[name],
                    "of_goal": round(median / GOALS[name], 3), "limit_ratio": round(median / limit, 1),
                    "statements": count, "statements_at_demo_size": small[name],
                    "statements_goal": small[name] * batches, "answer": answer,
                }  # fmt: skip
        finally:
            statements.remove()
            engine.dispose()
    finally:
        database.drop()
        shutil.rmtree(folder, ignore_errors=True)
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"), "database": database.description, "data": data,
        "limit": {"what": "bare Core read of the matrix's rows", "seconds": [round(t, 4) for t in limit_times],
                  "cpu_median": round(statistics.median(limit_cpu), 4),
                  "median": round(limit, 4), "answer": limit_answer},
        "batches": batches, "results": results,
    }  # fmt: skip
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(
        f"accountability bench: {data['systems']} systems, {data['people']} people, {data['risks']} risks"
        f" ({data['overdue_risks']} overdue), {data['assessments']} assessments, {data['drills']} drills,"
        f" {data['corrective_actions']} corrective actions, {data['terms']} terms; written in"
        f" {data['populate_seconds']} s; median of {args.repeats}; {database.description}"
    )
    print(f"  limit: the bare read of the matrix's {limit_answer['rows']} rows, {limit * 1000:.1f} ms")
    ok = True
    for name, figure in results.items():
        met = figure["median"] <= figure["goal"] and figure["statements"] <= figure["statements_goal"]
        ok = ok and met
        print(
            f"  {name:<18} {figure['median'] * 1000:8.1f} ms   goal ≤ {figure['goal'] * 1000:.0f} ms"
            f" ({figure['of_goal']:.2f} of it; {figure['limit_ratio']:.0f}× the limit; CPU {figure['cpu_median'] * 1000:.0f} ms)"
            f"   statements {figure['statements']} (demo size {figure['statements_at_demo_size']};"
            f" goal ≤ {figure['statements_at_demo_size']} × {batches} batches = {figure['statements_goal']})"
            f"   {'met' if met else 'MISSED'}   {figure['answer']}"
        )
    print(f"report: {args.output}")
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
