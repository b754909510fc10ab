"""`make bench` (drills): the drills' read paths at a city's long history, each beside its limit.

5,000 drills over three years (most completed, some planned ahead, cancelled or in progress),
each covering 1 to 4 of 1,000 systems and 1 or 2 departments, with a reporting deadline and the
measured minutes, and 20,000 corrective actions (open, in progress, closed, cancelled; a good
share overdue), written in bulk into a scratch SQLite database migrated as `db upgrade` does,
with the demo city's departments, users and systems. Timed, as the city's administrator (the
whole city in scope), the median of several repetitions after a warm-up:

- `drills.coverage.coverage` (every CII system and every department holding an operational
  system against the completed drills of the last 12 months, with the next planned drill);
- `services.list_drills`, page 1 of the completed drills reported late;
- `actions.list_actions`, page 1 of the overdue actions;
- the dashboard tiles of the drills domain (`DOMAIN.tiles`, each `build`); while the domain has
  none yet, a stand-in that computes the figures the issue names for them (coverage, reporting
  late, open and overdue actions) through the same services.

The report on stdout and in bench/results/drills.json.
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
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = Path(__file__).resolve().parent / "results"
# Seconds: the coverage page and the dashboard are whole-city aggregates; lists are one page.
GOALS = {"coverage": 0.5, "list_drills": 0.1, "overdue_actions": 0.1, "tiles": 0.15}
TYPES = ("seminar", "workshop", "tabletop", "game", "drill", "functional", "full_scale")
GRADES = ("I", "II", "III", "IV")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--drills", type=int, default=5000, help="drills (5000)")
    add("--actions", type=int, default=20000, help="corrective actions (20000)")
    add("--assets", type=int, default=1000, help="synthetic systems beside the demo's (1000)")
    add("--repeats", type=int, default=7, help="timed repetitions of each (7)")
    add("--output", type=Path, default=RESULTS / "drills.json", help="the JSON report")
    add("--strict", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args(argv)
    if args.drills < 10 or args.actions < 1 or args.assets < 0 or args.repeats < 1:
        parser.error("--drills at least 10, --actions and --repeats at least 1")
    return args


def make_app(folder: Path):
    from secgov import domains
    from secgov.app import create_app
    from secgov.db import upgrade

    url = f"sqlite:///{folder / 'bench.sqlite3'}"
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


def populate(app, args: argparse.Namespace) -> dict:
    """The demo city's departments, users and systems, synthetic systems, then drills with their
    scope rows and corrective actions, in bulk."""
    from sqlalchemy import insert
    from sqlmodel import select

    from assets.models import Asset
    from drills import rule
    from drills.models import CorrectiveAction, Drill, DrillAsset, DrillDepartment
    from secgov import domains
    from secgov.config import ServiceConfig
    from secgov.db import write_session
    from secgov.demo import load_demo
    from secgov.models import Department, User

    rng = random.Random(2026)  # noqa: S311 - synthetic data, the same every run
    config = ServiceConfig.from_mapping(app.config)
    engine = app.extensions["secgov_engine"]
    started = time.perf_counter()
    with app.app_context(), write_session(engine) as session:
        load_demo(session, config, [d for d in domains.registry().demos if d.__module__ == "assets.demo"])
        departments = session.exec(select(Department.id)).all()
        users = session.exec(select(User.id, User.department_id)).all()
        session.execute(
            insert(Asset),
            [
                {"code": f"BENCH-DR-{n:05d}", "name": f"bench system {n}", "sector": "government",
                 "department_id": rng.choice(departments), "is_cii": rng.random() < 0.2,
                 "lifecycle": "operational", "network_targets": [], "expected_ports": []}
                for n in range(args.assets)
            ],
        )  # fmt: skip
        assets = session.exec(select(Asset.id)).all()
        now = datetime.now(UTC).replace(microsecond=0)
        rows, scope_assets, scope_departments = [], [], []
        for n in range(1, args.drills + 1):
            roll = rng.random()
            status = (
                "completed"
                if roll < 0.75
                else "planned"
                if roll < 0.9
                else "cancelled"
                if roll < 0.99
                else "in_progress"
            )
            start = now - timedelta(days=rng.randint(1, 3 * 365), hours=rng.randint(0, 12))
            if status == "planned":
                start = now + timedelta(days=rng.randint(1, 365))
            grade = rng.choice(GRADES)
            deadline = None if grade == "IV" else rng.choice((60, 120, 240))
            minutes = rng.choice((120, 180, 240, 480))
            conducted = status in ("completed", "in_progress")
            report = rng.randint(10, 300) if conducted and rng.random() < 0.9 else None
            rows.append({
                "id": n, "department_id": rng.choice(departments), "title": f"bench drill {n}", "scenario": "",
                "exercise_type": rng.choice(TYPES), "incident_grade": grade, "lead_id": rng.choice(users)[0],
                "planned_start": start, "duration_minutes": minutes, "status": status,
                "started_at": start if conducted else None,
                "ended_at": start + timedelta(minutes=minutes) if status == "completed" else None,
                "completed_at": start + timedelta(minutes=minutes) if status == "completed" else None,
                "detect_minutes": rng.randint(1, 60) if conducted else None, "report_minutes": report,
                "report_deadline_minutes": deadline, "aar_status": "approved" if rng.random() < 0.7 else "draft",
                "created_by": "admin", "created_at": start - timedelta(days=30), "updated_at": start,
            })  # fmt: skip
            for asset_id in rng.sample(assets, rng.randint(1, 4)):
                scope_assets.append({"drill_id": n, "asset_id": asset_id})
            for dept_id in rng.sample(departments, rng.randint(1, 2)):
                scope_departments.append({"drill_id": n, "department_id": dept_id})
        session.execute(insert(Drill), rows)
        session.execute(insert(DrillAsset), scope_assets)
        session.execute(insert(DrillDepartment), scope_departments)
        finished = [r for r in rows if r["status"] in ("completed", "in_progress")]
        today = now.date()
        actions = []
        for n in range(args.actions):
            drill = rng.choice(finished)
            owner, owner_department = rng.choice(users)
            due = drill["planned_start"].date() + timedelta(days=rng.randint(14, 365))
            status = rng.choices(("open", "in_progress", "closed", "cancelled"), (30, 20, 45, 5))[0]
            actions.append({
                "drill_id": drill["id"], "department_id": owner_department, "title": f"bench action {n}",
                "description": "", "owner_id": owner, "due_date": due, "status": status, "note": "",
                "closed_at": now if status in ("closed", "cancelled") else None,
                "escalated_at": now if rule.overdue(due, status, today) and rng.random() < 0.5 else None,
                "created_by": "admin", "created_at": now, "updated_at": now,
            })  # fmt: skip
        session.execute(insert(CorrectiveAction), actions)
    return {
        "drills": len(rows),
        "drill_assets": len(scope_assets),
        "drill_departments": len(scope_departments),
        "actions": len(actions),
        "systems": len(assets),
        "populate_seconds": round(time.perf_counter() - started, 2),
    }


def _stand_in_tiles(session, actor, config, today: date) -> dict:
    """The figures the issue names for the drills' tiles, through the services (while the domain
    declares no tile)."""
    from drills import actions, coverage, services
    from drills.schemas import ActionQuery, DrillQuery

    report = coverage.coverage(session, actor, config, today)
    late = services.list_drills(session, actor, DrillQuery(reporting="late", page_size=1))[1]
    on_time = services.list_drills(session, actor, DrillQuery(reporting="on_time", page_size=1))[1]
    open_ = actions.list_actions(session, actor, ActionQuery(status="open", page_size=1), today)[1]
    overdue = actions.list_actions(session, actor, ActionQuery(overdue=True, page_size=1), today)[1]
    return {"required": report.required, "covered": report.covered, "late": late, "on_time": on_time,
            "open": open_, "overdue": overdue}  # fmt: skip


def measure(app, repeats: int) -> dict:
    import drills
    from assets.rule import today_utc
    from drills import actions, coverage, services
    from drills.schemas import ActionQuery, DrillQuery
    from secgov import auth
    from secgov.authz import Actor
    from secgov.config import ServiceConfig
    from secgov.db import new_session

    config = ServiceConfig.from_mapping(app.config)
    engine = app.extensions["secgov_engine"]
    tiles = list(drills.DOMAIN.tiles)
    results: dict[str, dict] = {}
    with app.test_request_context(headers={"Accept-Language": "en"}), new_session(engine, write=False) as session:
        actor = Actor.of(auth.find_user(session, "admin"), "cli")
        today = today_utc()

        def build_tiles():
            if not tiles:
                return _stand_in_tiles(session, actor, config, today)
            return {tile.code: tile.build(session, actor, config, today) for tile in tiles}

        operations = {
            "coverage": lambda: coverage.coverage(session, actor, config, today),
            "list_drills": lambda: services.list_drills(
                session, actor, DrillQuery(status="completed", reporting="late", page=1)
            ),
            "overdue_actions": lambda: actions.list_actions(session, actor, ActionQuery(overdue=True, page=1), today),
            "tiles": build_tiles,
        }
        for name, operation in operations.items():
            answer = operation()  # warm-up
            times = []
            for _n in range(repeats):
                session.expire_all()
                started = time.perf_counter()
                operation()
                times.append(time.perf_counter() - started)
            median = statistics.median(times)
            results[name] = {
                "seconds": [round(t, 4) for t in times],
                "median": round(median, 4),
                "goal": GOALS[name],
                "ratio": round(median / GOALS[name], 3),
                "answer": _summary(name, answer),
            }
        results["tiles"]["source"] = "DOMAIN.tiles" if tiles else "stand-in (the domain declares no tile yet)"
    return results


def _summary(name: str, answer) -> dict:
    if name == "coverage":
        return {"required": answer.required, "covered": answer.covered, "gaps": len(answer.gaps)}
    if name in ("list_drills", "overdue_actions"):
        return {"page": len(answer[0]), "total": answer[1]}
    return {"tiles": len(answer)} if not isinstance(answer, dict) or "required" not in answer else answer


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="secgov-bench-drills-"))
    try:
        app = make_app(folder)
        data = populate(app, args)
        results = measure(app, args.repeats)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    report = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "data": data, "results": results}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(
        f"drills bench: {data['drills']} drills ({data['drill_assets']} system and {data['drill_departments']}"
        f" department scope rows), {data['actions']} corrective actions, {data['systems']} systems;"
        f" written in {data['populate_seconds']} s; median of {args.repeats}, SQLite"
    )
    ok = True
    for name, figure in results.items():
        met = figure["median"] <= figure["goal"]
        ok = ok and met
        print(
            f"  {name:<16} {figure['median'] * 1000:8.1f} ms   goal ≤ {figure['goal'] * 1000:.0f} ms"
            f"  ({'met' if met else 'MISSED'}; {figure['ratio']:.2f} of the limit)   {figure['answer']}"
        )
    print(f"  tiles: {results['tiles']['source']}")
    print(f"report: {args.output}")
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
