"""`make bench` (second part): the city's compliance report at 20,000 assets against the goal of issue 11.

1. A scratch database as bench_assets.py makes it (SQLite, or a scratch database on the loopback
   PostgreSQL of --database-url): `python -m secgov db upgrade`, `python -m secgov demo`, and
   --assets synthetic assets (bench/synth.py) imported with `python -m secgov import assets`.
2. Per repetition, the city's compliance report generated as a city officer, the way the command
   line does it (bench/inprocess.py report: reports.service.generate, end to end: the chapters'
   queries, the HTML, the PDF rendered in its child process, storing the file, the audit record
   and checkpoint), and the very same HTML rendered by bare WeasyPrint (HTML(string=…).render()
   .write_pdf(…) in a fresh interpreter, its style sheet read from the static folder by
   WeasyPrint's own fetcher): the limit, measured in the same run. The order alternates from
   one repetition to the next; one untimed pair before them warms the caches.
3. Medians: the report's total time, the bare render's, their ratio (goal ≤ 1.2); the peak memory
   of the report's render child beside its limit (SECGOV_REPORT_MAX_MB).
4. On a missed goal (or --profile always), a cProfile of one more report, in-process.
5. The report on stdout and in bench/results/reports.json.

--tree PATH measures another checkout of the project with the same virtualenv.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path

import compare
import harness
import synth

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
GOAL_RATIO = 1.2
OFFICER = "officer"  # a demo officer of the city: the city's report

# The limit: WeasyPrint alone, as the report's child uses it, without the app around it.
BARE = """\
import json, sys
from weasyprint import HTML
document = HTML(string=sys.stdin.buffer.read().decode("utf-8"), base_url=sys.argv[2]).render()
document.write_pdf(sys.argv[1])
print(json.dumps({"pages": len(document.pages)}))
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--assets", type=int, default=20_000, help="synthetic assets to import (20000)")
    add("--repeats", type=int, default=5, help="timed repetitions of the report and of the bare render (5)")
    add("--lang", choices=("zh", "en"), default="zh", help="the report's language (zh)")
    add("--tree", type=Path, default=ROOT, metavar="PATH", help="the checkout to measure (default: this one)")
    add(
        "--database-url",
        help="a loopback PostgreSQL server (postgresql+psycopg://user@127.0.0.1/postgres): a scratch database"
        " is created there and dropped afterwards (needs CREATEDB). Default: SQLite.",
    )
    add(
        "--wait-quiet",
        type=float,
        default=180.0,
        metavar="SECONDS",
        help="before the import and before each repetition, wait up to this long until other processes use"
        " at most 10%% of the CPU (180; 0: do not wait). The report shows the load either way.",
    )
    add("--wait-budget", type=float, default=600.0, metavar="SECONDS", help="at most this long in all (600)")
    add("--profile", choices=("auto", "always", "never"), default="auto", help="auto: on a missed goal")
    add("--output", type=Path, default=RESULTS / "reports.json", help="the JSON report")
    add("--strict", action="store_true", help="exit 1 when a goal is missed")
    add("--keep", action="store_true", help="keep the scratch folder (SQLite database, CSV, HTML, PDFs)")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.assets < 0:
        parser.error("--repeats must be at least 1 and --assets not negative")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        with harness.Scratch(args.tree, args.database_url, args.keep) as bench:
            results = run(args, bench)
    except KeyboardInterrupt:
        harness.log("interrupted: the scratch database is removed")
        return 130
    compare.write_json(results, args.output)
    print(render(results))
    print(f"\nJSON report: {args.output}")
    return 1 if args.strict and not all(g["pass"] for g in results["goals"]) else 0


def bare_render(tree: harness.Tree, html: Path, out: Path) -> dict:
    """The limit: a fresh interpreter rendering html with WeasyPrint alone; its wall time, CPU
    time and peak memory (this child's own rusage)."""
    static = (tree.root / "secgov" / "static").as_uri() + "/"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # nothing of the checkout
    with open(out.with_suffix(".out"), "w+b") as stdout:
        started = time.perf_counter()
        child = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, "-c", BARE, str(out), static], stdin=subprocess.PIPE, stdout=stdout,
            stderr=stdout, cwd=out.parent, env=env,
        )  # fmt: skip
        child.stdin.write(html.read_bytes())
        child.stdin.close()
        _pid, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        output = stdout.read().decode("utf-8", "replace").strip().splitlines()
    if child.returncode != 0:
        raise RuntimeError(f"the bare render failed ({child.returncode}): {output[-5:]}")
    return {
        "seconds": round(seconds, 3),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "maxrss_mib": round(usage.ru_maxrss / 1024, 1),  # KiB on Linux
        "pages": int(output[-1].split(":")[1].strip(" }")),
        "size": out.stat().st_size,
    }


def run(args: argparse.Namespace, bench: harness.Scratch) -> dict:
    tree, database = bench.tree, bench.database
    results: dict = {
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": harness.machine(),
        "database": database.description,
        "tree": str(tree.root),
        "revision": tree.revision(),
        "translations": tree.compile_translations(),
        "python_speed_ms": [harness.python_speed()],
        "settings": {k: v for k, v in vars(args).items() if k not in ("output", "tree", "database_url")},
    }
    harness.log(f"{tree.root} at {results['revision']}; {database.description}")
    tree.cli("db", "upgrade")
    tree.cli("demo")
    csv_path = bench.workdir / f"bench-assets-{args.assets}.csv"
    csv_path.write_bytes(synth.assets_csv(args.assets))
    quiet = harness.Quiet(args.wait_quiet, args.wait_budget)
    results["other_load_before_import"] = quiet.wait()
    harness.log(f"python -m secgov import assets: {args.assets:,} rows")
    results["import"] = imported = tree.import_register("assets", csv_path, bench.workdir / "import.log")
    if imported["exit_code"] != 0 or imported["created"] != args.assets:
        raise RuntimeError(f"the import failed or created {imported['created']} assets: {imported['output']}")
    results["total_assets"] = database.scalar("SELECT count(*) FROM asset")

    spec = {"username": OFFICER, "lang": args.lang, "today": date.today().isoformat()}

    def pair(number: int) -> dict:
        html = bench.workdir / f"report-{number}.html"
        before = harness.cpu_snapshot()
        real = tree.inprocess("report", {**spec, "html_out": str(html)})
        real["other_processes_share"] = harness.since(before)["other_processes_share"]
        before = harness.cpu_snapshot()
        bare = bare_render(tree, html, bench.workdir / f"bare-{number}.pdf")
        bare["other_processes_share"] = harness.since(before)["other_processes_share"]
        return {"real": real, "bare": bare}

    harness.log("warm-up: one report and one bare render, not counted")
    results["warmup"] = pair(0)
    results["other_load_before_reports"] = quiet.wait()
    results["python_speed_ms"].append(harness.python_speed())
    results["repeats"] = []
    for number in range(1, args.repeats + 1):
        harness.log(f"repetition {number} of {args.repeats}: the report end to end, and bare WeasyPrint")
        if number > 1:
            quiet.wait()
        got = pair(number)
        got["ratio"] = round(got["real"]["seconds"] / got["bare"]["seconds"], 3)
        results["repeats"].append(got)
    results["summary"] = summarise(results["repeats"])
    results["waited_for_quiet_s"] = round(args.wait_budget - quiet.left)
    results["goals"] = goals(results)
    results["profile"] = {}
    if args.profile == "always" or (args.profile == "auto" and not all(g["pass"] for g in results["goals"])):
        harness.log("profiling one more report in-process (cProfile)")
        out = RESULTS / "profile-report.txt"
        html = bench.workdir / "report-profiled.html"
        results["profile"] = tree.inprocess("report", {**spec, "html_out": str(html), "profile_out": str(out)})
    return results


def summarise(repeats: list[dict]) -> dict:
    """Medians over the repetitions (each side's own median; the ratio of the two, and the median
    of the repetitions' ratios)."""
    real = [r["real"] for r in repeats]
    bare = [r["bare"] for r in repeats]
    parts = {name: statistics.median(r["parts"].get(name, 0.0) for r in real) for name in real[0]["parts"]}
    total, limit = statistics.median(r["seconds"] for r in real), statistics.median(b["seconds"] for b in bare)
    return {
        "total_seconds": round(total, 3),
        "bare_seconds": round(limit, 3),
        "ratio": round(total / limit, 3),
        "ratio_median_of_repeats": round(statistics.median(r["ratio"] for r in repeats), 3),
        "parts_seconds": {name: round(seconds, 3) for name, seconds in parts.items()},
        "rest_seconds": round(statistics.median(r["rest"] for r in real), 3),
        "child_maxrss_mib": max(r["child_maxrss_mib"] for r in real),
        "child_cpu_seconds": statistics.median(r["child_cpu_seconds"] for r in real),
        "app_maxrss_mib": max(r["self_maxrss_mib"] for r in real),
        "bare_maxrss_mib": max(b["maxrss_mib"] for b in bare),
        "bare_cpu_seconds": statistics.median(b["cpu_seconds"] for b in bare),
        "max_mb": real[0]["max_mb"],
        "max_seconds": real[0]["max_seconds"],
        "pages": real[-1]["pages"],
        "bare_pages": bare[-1]["pages"],
        "html_kib": round(real[-1]["html_bytes"] / 1024, 1),
        "pdf_kib": round(real[-1]["size"] / 1024, 1),
        "other_processes_share_max": max(
            max(r["real"]["other_processes_share"], r["bare"]["other_processes_share"]) for r in repeats
        ),
    }


def goals(results: dict) -> list[dict]:
    """The report within 1.2 × the bare render of its HTML; its render child within its memory and
    time limits; every report succeeded, with the bare render's page count."""
    s = results["summary"]
    statuses = {r["real"]["status"] for r in results["repeats"]}
    return [
        {
            "key": "ratio",
            "goal": f"report total ≤ {GOAL_RATIO:g} × bare WeasyPrint of the same HTML",
            "measured": f"{s['total_seconds']:.2f} s / {s['bare_seconds']:.2f} s = {s['ratio']:.2f}",
            "pass": s["ratio"] <= GOAL_RATIO,
        },
        {
            "key": "memory",
            "goal": f"render child's peak memory ≤ its limit (SECGOV_REPORT_MAX_MB {s['max_mb']})",
            "measured": f"{s['child_maxrss_mib']:.0f} MiB (bare WeasyPrint {s['bare_maxrss_mib']:.0f} MiB)",
            "pass": s["child_maxrss_mib"] <= s["max_mb"],
        },
        {
            "key": "time",
            "goal": f"render within its time limit (SECGOV_REPORT_MAX_SECONDS {s['max_seconds']:g})",
            "measured": f"{s['parts_seconds'].get('render_pdf', 0.0):.2f} s",
            "pass": s["parts_seconds"].get("render_pdf", 0.0) <= s["max_seconds"],
        },
        {
            "key": "complete",
            "goal": "every report succeeded, with as many pages as the bare render",
            "measured": f"{', '.join(sorted(statuses))}; {s['pages']} / {s['bare_pages']} pages",
            "pass": statuses == {"succeeded"} and s["pages"] == s["bare_pages"],
        },
    ]


def render(results: dict) -> str:
    m, s, imp, st = results["machine"], results["summary"], results["import"], results["settings"]
    parts = s["parts_seconds"]
    lines = [
        f"SecGov benchmark: the city's compliance report — {results['date']}",
        f"Machine   {m['cpu']}, {m['cores']} cores ({m['cores_usable']} usable), {m['memory_gib']} GiB RAM",
        f"          {m['os']}; Python {m['python']}",
        f"Database  {results['database']}",
        f"Code      {results['tree']} at {results['revision']}; translations: {results['translations']}",
        "Limit     bare WeasyPrint: HTML(string=…).render().write_pdf(…) of the same HTML in a fresh interpreter",
        f"Other load on the machine: {results['other_load_before_import']:.0%} of the CPU before the import,"
        f" {imp['other_processes_share']:.0%} during it, {results['other_load_before_reports']:.0%} before the"
        f" reports, at most {s['other_processes_share_max']:.0%} during a report or a bare render;"
        f" {results['waited_for_quiet_s']} s spent waiting for a quiet machine",
        f"Python speed probe (harness.python_speed, lower is faster): {results['python_speed_ms'][0]} ms at the"
        f" start, {results['python_speed_ms'][1]} ms before the reports",
        "",
        f"Import: {st['assets']:,} synthetic assets in {imp['seconds']:.1f} s; {results['total_assets']:,} assets in all",
        "",
        f"The city's compliance report ({st['lang']}, {s['pages']} pages, HTML {s['html_kib']} KiB, PDF"
        f" {s['pdf_kib']} KiB), medians of {st['repeats']} repetitions:",
        f"  {'':<52} {'seconds':>8}",
        f"  {'generate() end to end':<52} {s['total_seconds']:>8.2f}",
        f"    {'the chapters: data (build_input, the queries)':<50} {parts.get('build_input', 0.0):>8.2f}",
        f"    {'HTML (render_html: Jinja)':<50} {parts.get('render_html', 0.0):>8.2f}",
        f"    {'PDF in the child process (render_pdf)':<50} {parts.get('render_pdf', 0.0):>8.2f}",
        f"    {'audit checkpoint':<50} {parts.get('checkpoint', 0.0):>8.2f}",
        f"    {'the rest (marks, storing the file, audit record)':<50} {s['rest_seconds']:>8.2f}",
        f"  {'then the full registers that go with it (XLSX export)':<52} {parts.get('register_files', 0.0):>8.2f}",
        f"  {'bare WeasyPrint, the same HTML (the limit)':<52} {s['bare_seconds']:>8.2f}",
        f"  ratio report/bare {s['ratio']:.2f} (median of the repetitions' ratios {s['ratio_median_of_repeats']:.2f};"
        f" goal ≤ {GOAL_RATIO:g})",
        f"  peak memory (maxrss): render child {s['child_maxrss_mib']:.0f} MiB (limit {s['max_mb']} MiB),"
        f" bare WeasyPrint {s['bare_maxrss_mib']:.0f} MiB, the generating process {s['app_maxrss_mib']:.0f} MiB",
        f"  CPU: render child {s['child_cpu_seconds']:.2f} s, bare WeasyPrint {s['bare_cpu_seconds']:.2f} s",
        "",
        f"  {'repetition':<12} {'report s':>9} {'bare s':>8} {'ratio':>6}  {'others':>6}",
    ]
    for number, r in enumerate(results["repeats"], start=1):
        others = max(r["real"]["other_processes_share"], r["bare"]["other_processes_share"])
        lines.append(
            f"  {number:<12} {r['real']['seconds']:>9.2f} {r['bare']['seconds']:>8.2f} {r['ratio']:>6.2f}  {others:>6.0%}"
        )
    if results["profile"]:
        p = results["profile"]
        lines += ["", f"Profile of one more report (cProfile, in-process; listing in {p.get('listing')}):"]
        lines += [f"      {name:<70} {seconds:>8.3f} s" for name, seconds in p.get("functions", [])[:12]]
    lines += compare.goal_lines(results["goals"], "Goals (issue 11)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
