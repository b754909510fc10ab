"""The part of the benchmark that imports the application: run by harness.Tree in a subprocess.

It runs with its working directory and PYTHONPATH at the checkout being measured (this one, or
another one given with --tree), so that `secgov` and the domain packages come from there. It
reads a JSON spec on stdin and prints one JSON object on stdout. Modes:

  settings  the gunicorn settings of `python -m secgov serve` (those that differ from gunicorn's
            defaults), read by running the real command up to the point where gunicorn would start
  count     SQL statements (and their time) per request, in-process: Flask test client, an engine
            listener, signed in through the login form or with a bearer token
  profile   cProfile over a number of in-process requests per endpoint, with a breakdown
  report    one compliance report generated as the command line does it (reports.service.generate):
            its time end to end and by part, the render child's peak memory, the HTML it rendered
"""

from __future__ import annotations

import cProfile
import io
import json
import pstats
import re
import resource
import sqlite3
import sys
import time
from datetime import date
from pathlib import Path

TREE = Path.cwd().resolve()


def gunicorn_settings(spec: dict) -> dict:
    """Run `secgov serve` with gunicorn's run() replaced: what would it have started?"""
    from gunicorn.app.base import BaseApplication
    from gunicorn.config import Config

    found: dict = {"settings": None, "not_copied": []}

    def capture(app) -> None:
        defaults = Config().settings
        found["settings"] = {}
        for name, setting in app.cfg.settings.items():
            value = setting.get()
            if value == defaults[name].get():
                continue
            try:
                json.dumps(value)
            except TypeError:  # a hook or a class: code of the app, not a setting to copy
                found["not_copied"].append(name)
                continue
            found["settings"][name] = value
        raise SystemExit(0)

    BaseApplication.run = capture
    from secgov.cli import main

    command = ["serve", "--host", spec["host"], "--port", str(spec["port"]), "--workers", str(spec["workers"])]
    command += ["--no-scheduler", "--no-worker"]  # the web alone: what is measured
    try:
        main(command, prog_name="python -m secgov")
    except SystemExit:
        pass
    if found["settings"] is None:  # the command failed before it got to gunicorn
        raise RuntimeError(f"python -m secgov {' '.join(command)} did not start gunicorn")
    return found


class InProcess:
    """The app built in this process, with one test client signed in through the form and one for the API."""

    def __init__(self, spec: dict):
        from secgov.app import create_app

        self.app = create_app()
        self.token = spec["token"]
        self.web = self.app.test_client()
        self.api = self.app.test_client()
        page = self.web.get("/login")
        match = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
        if match is None:
            raise RuntimeError("no CSRF token on /login")
        form = {"csrf_token": match.group(1), "username": spec["username"], "password": spec["password"], "next": "/"}
        answer = self.web.post("/login", data=form)
        if answer.status_code != 302 or "/login" in answer.headers.get("Location", ""):
            raise RuntimeError(f"in-process sign-in as {spec['username']} failed ({answer.status_code})")

    def get(self, endpoint: dict):
        if endpoint["api"]:
            return self.api.get(endpoint["path"], headers={"Authorization": f"Bearer {self.token}"})
        return self.web.get(endpoint["path"])


def _short(statement: str, limit: int = 160) -> str:
    text = " ".join(statement.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def count(spec: dict) -> dict:
    """Statements per request for every endpoint (after a warm-up request), with their time."""
    from sqlalchemy import event

    inproc = InProcess(spec)
    engine = inproc.app.extensions["secgov_engine"]
    statements: list[tuple[float, str, object]] = []

    def before(conn, _cursor, _statement, _parameters, _context, _executemany):
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def after(conn, _cursor, statement, parameters, _context, _executemany):
        started = conn.info["bench_started"].pop()
        statements.append(((time.perf_counter() - started) * 1000, statement, parameters))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    results = {}
    for endpoint in spec["endpoints"]:
        inproc.get(endpoint)  # warm-up: caches, the token's last-use note
        counts, sql_ms, app_ms, statuses = [], [], [], set()
        for _ in range(spec.get("repeats", 3)):
            statements.clear()
            started = time.perf_counter()
            answer = inproc.get(endpoint)
            app_ms.append((time.perf_counter() - started) * 1000)
            statuses.add(answer.status_code)
            counts.append(len(statements))
            sql_ms.append(sum(ms for ms, _s, _p in statements))
        slowest = max(statements, key=lambda s: s[0]) if statements else (0.0, "", None)
        results[endpoint["key"]] = {
            "queries": counts[-1],
            "stable": len(set(counts)) == 1,
            "counts": counts,
            "status": sorted(statuses),
            "sql_ms": round(min(sql_ms), 2),
            "in_process_ms": round(min(app_ms), 2),
            "statements": [_short(s) for _ms, s, _p in statements],
            "slowest_ms": round(slowest[0], 2),
            "slowest": _short(slowest[1], 400),
            "plan": _plan(engine, slowest[1], slowest[2]) if spec.get("plans") else [],
        }
    return results


def _plan(engine, statement: str, parameters) -> list[str]:
    """EXPLAIN QUERY PLAN (SQLite only) of a SELECT statement."""
    if engine.dialect.name != "sqlite" or not statement.lstrip().upper().startswith("SELECT"):
        return []
    raw = engine.raw_connection()
    try:
        rows = raw.cursor().execute("EXPLAIN QUERY PLAN " + statement, parameters or ()).fetchall()
    except sqlite3.Error as exc:
        return [f"(no plan: {exc})"]
    finally:
        raw.close()
    return [str(row[-1]) for row in rows]


def profile(spec: dict) -> dict:
    """cProfile over spec["requests"] in-process requests per endpoint; a breakdown and the full listing."""
    inproc = InProcess(spec)
    requests = spec["requests"]
    out_dir = Path(spec["out_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    results = {}
    for endpoint in spec["endpoints"]:
        inproc.get(endpoint)
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        for _ in range(requests):
            inproc.get(endpoint)
        profiler.disable()
        wall_ms = (time.perf_counter() - started) * 1000 / requests
        stats = pstats.Stats(profiler)
        breakdown = []
        for title, file_part, function_part in spec["breakdown"]:
            cumulative = [
                cum
                for (filename, _line, function), (_cc, _nc, _tot, cum, _callers) in stats.stats.items()
                if file_part in f"{filename}:{function}" and function_part in function
            ]
            if cumulative:
                # The outermost frame of a recursive or repeated function holds the total: take the largest.
                total = max(cumulative) if "full_dispatch" in function_part else sum(cumulative)
                breakdown.append((title, round(total * 1000 / requests, 2)))
        own = sorted(
            (
                (cum, f"{Path(filename).relative_to(TREE)}:{line}({function})")
                for (filename, line, function), (_cc, _nc, _tot, cum, _callers) in stats.stats.items()
                if filename.startswith(str(TREE)) and ".venv" not in filename and "/bench/" not in filename
            ),
            reverse=True,
        )[:12]
        buffer = io.StringIO()
        printer = pstats.Stats(profiler, stream=buffer)
        printer.sort_stats("cumulative").print_stats(45)
        printer.sort_stats("tottime").print_stats(30)
        listing = out_dir / f"profile-{endpoint['key']}.txt"
        listing.write_text(f"{endpoint['path']}: cProfile over {requests} in-process requests\n\n{buffer.getvalue()}")
        results[endpoint["key"]] = {
            "requests": requests,
            "in_process_ms_per_request_profiled": round(wall_ms, 2),
            "breakdown_ms_per_request": breakdown,
            "project_functions_cumulative_ms": [(name, round(cum * 1000 / requests, 2)) for cum, name in own],
            "listing": str(listing),
        }
    return results


def report(spec: dict) -> dict:
    """Ask for a compliance report as spec["username"] (the command line's way: request_report,
    then generate in a request context) and time generate() end to end. Its parts are timed by
    wrapping the module-level names generate() calls; nothing else changes. The PDF's render is
    the only child process this one starts: RUSAGE_CHILDREN's maxrss is that child's peak."""
    from secgov.app import create_app
    from secgov.commands import acting, transaction
    from secgov.reports import service
    from secgov.reports.document import render_html

    app = create_app()
    engine = app.extensions["secgov_engine"]
    registry = app.extensions["secgov_registry"]
    data = service.ReportCreate.model_validate({"lang": spec["lang"], "period": spec.get("period")})
    with app.app_context(), transaction(app) as session:
        actor = acting(session, spec["username"], service.MAKERS)
        made = service.request_report(session, actor, data, date.fromisoformat(spec["today"]))
    parts: dict[str, float] = {}
    captured: dict[str, str] = {}

    def timed(name: str, function):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                result = function(*args, **kwargs)
            finally:
                key = name.lstrip("_")  # the JSON report drops keys that start with "_"
                parts[key] = parts.get(key, 0.0) + time.perf_counter() - started
            if name == "render_html":
                captured["html"] = result
            return result

        return wrapper

    # The parts of generate(): the chapters' queries, the HTML (given to generate, as the command
    # line and the workers give theirs), the PDF child, the registers that go with the report,
    # and signing the audit head in this process (the command line's way).
    names = ("build_input", "render_pdf", "register_files")
    originals = {name: getattr(service, name) for name in names}
    for name, function in originals.items():
        setattr(service, name, timed(name, function))
    html_of, sign = timed("render_html", render_html), timed("checkpoint", service.sign_here)
    try:
        profiler = cProfile.Profile() if spec.get("profile_out") else None
        with app.test_request_context():
            started = time.perf_counter()
            if profiler:
                profiler.enable()
            done = service.generate(
                engine,
                made.id,
                actor,
                registry.chapters,
                app.config,
                registry.figures,
                html_of=html_of,
                sign=sign,
                kinds=registry.report_kinds,
            )
            if profiler:
                profiler.disable()
            total = time.perf_counter() - started
            # The full registers go with the report after its PDF (service.attach_registers): timed
            # on their own, outside the report's total that the goal compares with bare WeasyPrint.
            service.attach_registers(engine, done.id, actor, registry.registers, app.config, registry.report_kinds)
    finally:
        for name, function in originals.items():
            setattr(service, name, function)
    Path(spec["html_out"]).write_text(captured["html"], encoding="utf-8")
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    limits = service.limits_of(app.config)
    profiled = {}
    if profiler:
        stats = pstats.Stats(profiler)
        own = sorted(
            (
                (cum, f"{Path(filename).relative_to(TREE)}:{line}({function})")
                for (filename, line, function), (_cc, _nc, _tot, cum, _callers) in stats.stats.items()
                if filename.startswith(str(TREE)) and ".venv" not in filename and "/bench/" not in filename
            ),
            reverse=True,
        )[:15]
        buffer = io.StringIO()
        printer = pstats.Stats(profiler, stream=buffer)
        printer.sort_stats("cumulative").print_stats(60)
        printer.sort_stats("tottime").print_stats(30)
        listing = Path(spec["profile_out"])
        listing.parent.mkdir(parents=True, exist_ok=True)
        listing.write_text(f"generate() of report {done.id}: cProfile\n\n{buffer.getvalue()}")
        profiled = {"listing": str(listing), "functions": [(name, round(cum, 3)) for cum, name in own]}
    return {
        **profiled,
        "report": done.id,
        "status": done.status,
        "pages": done.pages,
        "size": done.size,
        "html_bytes": len(captured["html"].encode("utf-8")),
        "seconds": round(total, 3),
        "parts": {name: round(seconds, 3) for name, seconds in parts.items()},
        "rest": round(
            total - sum(v for k, v in parts.items() if k != "register_files"), 3
        ),  # status marks, storing the file, the audit record
        "child_maxrss_mib": round(children.ru_maxrss / 1024, 1),  # KiB on Linux
        "child_cpu_seconds": round(children.ru_utime + children.ru_stime, 2),
        "self_maxrss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "max_mb": limits.max_bytes // 2**20,
        "max_seconds": limits.max_seconds,
    }


MODES = {"settings": gunicorn_settings, "count": count, "profile": profile, "report": report}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in MODES:
        raise SystemExit(f"usage: {sys.argv[0]} {{{','.join(MODES)}}} < spec.json")
    result = MODES[sys.argv[1]](json.load(sys.stdin))
    print("\n" + json.dumps(result), flush=True)  # the last line: whatever the app printed comes before
