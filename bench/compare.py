"""The real endpoint against its limit: both servers, the alternating rounds of one run, the report.

The limit (bench/limit_app.py) answers what the real server answered to the same client, byte for
byte, on the same gunicorn settings, so the gap between the two is what the application itself
costs per request. Each round measures both servers with the same client, path and load, one after the other; the
order flips from round to round (real, limit, limit, real, …) so that a machine that gets busier
or quieter during the run weighs on both alike. A round during which other processes took more
than harness.QUIET_SHARE of the CPU is measured again (up to MEASURE_ATTEMPTS times) once the
machine is quiet, while the run's budget for waiting lasts; the report shows the largest share
that remained.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import harness
import httpload

MEASURE_ATTEMPTS = 3
SIDES = ("real", "limit")


def serve_pair(bench: harness.Scratch, workers: int, sign_in: Callable[[int], dict], targets: dict[str, bool]) -> dict:
    """The real server and its limit, both ready; per kind of client (api or not) one client for each.

    sign_in(port) gives the scenario's clients of the real server, by kind. Their answer to each
    target (path and query; True: the API client) is recorded and handed to the limit, started
    with the gunicorn settings that `python -m secgov serve` of the checkout uses."""
    tree, workdir = bench.tree, bench.workdir
    gunicorn = tree.inprocess("settings", {"host": harness.LOOPBACK, "port": 0, "workers": workers})
    port = harness.free_port()
    command = [sys.executable, "-m", "secgov", "serve", "--host", harness.LOOPBACK, "--port", str(port)]
    bench.servers["real"] = real = harness.Server(
        # The web alone (the deployment's web host): no scheduler or worker beside it in the measure.
        "real",
        [*command, "--workers", str(workers), "--no-scheduler", "--no-worker"],
        tree.root,
        tree.env,
        port,
        workers,
        workdir / "server-real.log",
    )
    real.wait_ready("/healthz")
    clients = sign_in(real.port)
    answers = {}
    for target, api in targets.items():
        answer = clients[api].get(target)
        body = base64.b64encode(answer.body).decode("ascii")
        answers[target] = {"status": answer.status, "headers": answer.headers, "body": body}

    port = harness.free_port()
    settings = {k: v for k, v in gunicorn["settings"].items() if k != "bind"}
    spec = {"settings": {**settings, "workers": workers}, "bind": [f"{harness.LOOPBACK}:{port}"], "answers": answers}
    (workdir / "limit.json").write_text(json.dumps(spec), encoding="utf-8")
    command = [sys.executable, str(harness.BENCH / "limit_app.py"), str(workdir / "limit.json")]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # nothing of the checkout
    bench.servers["limit"] = limit = harness.Server(
        "limit", command, harness.BENCH, env, port, workers, workdir / "server-limit.log"
    )
    limit.wait_ready(next(iter(targets)))
    pairs = {kind: {"real": client, "limit": client.copy(limit.port)} for kind, client in clients.items()}
    for target, api in targets.items():
        got, recorded = pairs[api]["limit"].get(target), answers[target]
        same_headers = _end_to_end(got.headers) == _end_to_end(recorded["headers"])
        if got.status != recorded["status"] or got.body != base64.b64decode(recorded["body"]) or not same_headers:
            raise RuntimeError(f"the limit does not answer {target} as recorded: {got.status} {got.headers}")
    harness.log(f"real on :{real.port}, limit on :{limit.port}; gunicorn settings {settings}")
    return {"clients": pairs, "gunicorn": gunicorn, "recorded_status": {t: a["status"] for t, a in answers.items()}}


def _end_to_end(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The headers the app sets (gunicorn adds Date, Server and Connection itself), in order."""
    return [(k.lower(), v) for k, v in headers if k.lower() not in ("date", "server", "connection", "keep-alive")]


def alternate(
    label: str,
    measure: Callable[[str, httpload.Probe], httpload.Sample],
    servers: dict,
    rounds: int,
    quiet: harness.Quiet,
) -> dict:
    """measure(side, probe) for each side in `rounds` rounds; per side the merged figures, and the ratios."""
    samples: dict[str, list[httpload.Sample]] = {side: [] for side in SIDES}
    shares, steals, attempts = [], [], []
    for number in range(rounds):
        order = SIDES if number % 2 == 0 else SIDES[::-1]
        for attempt in range(1, MEASURE_ATTEMPTS + 1):
            got = {side: measure(side, lambda: harness.cpu_snapshot(servers)) for side in order}
            cpu = [harness.cpu_summary(s.cpu_seconds) for s in got.values()]
            share = max(c["other_processes_share"] for c in cpu)
            if share <= harness.QUIET_SHARE or attempt == MEASURE_ATTEMPTS or quiet.spent:
                break
            harness.log(f"{label}, round {number + 1}: other processes took {share:.0%} of the CPU; measuring again")
            quiet.wait()
        shares.append(share)
        steals.append(max(c["steal_share"] for c in cpu))
        attempts.append(attempt)
        for side, sample in got.items():
            samples[side].append(sample)
    result = {
        "rounds": rounds,
        "attempts": attempts,
        "other_processes_share_max": max(shares),
        "steal_share_max": max(steals),
    }
    for side in SIDES:
        merged = httpload.merge(samples[side])
        figures = merged.summary()
        cpu = harness.cpu_summary(merged.cpu_seconds)
        figures["cpu"] = cpu
        server_cpu = cpu["servers"].get(side, 0.0)
        figures["server_cpu_ms_per_request"] = (
            round(server_cpu * 1000 / figures["requests"], 2) if figures["requests"] else None
        )
        result[side] = figures
    real, limit = result["real"], result["limit"]
    result["ratio_throughput"] = _ratio(real["requests_per_second"], limit["requests_per_second"])
    result["ratio_p50"] = _ratio(limit["median_ms"], real["median_ms"])
    result["ratio_p95"] = _ratio(limit["p95_ms"], real["p95_ms"])
    return result


def _ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 3) if denominator and numerator == numerator else None


def latency(clients: dict[str, httpload.Client], path: str, requests: int, **kwargs) -> dict:
    """Sequential requests on one kept-alive connection per side, split over the rounds."""
    per_round = max(1, requests // kwargs["rounds"])
    return alternate(
        f"latency {path}",
        lambda side, probe: httpload.sequential(clients[side], path, per_round, warmup=5, probe=probe),
        **kwargs,
    )


def throughput(clients: dict[str, httpload.Client], path: str, concurrency: int, duration: float, **kwargs) -> dict:
    """`concurrency` keep-alive clients per side for duration seconds in all, split over the rounds."""
    seconds = duration / kwargs["rounds"]
    return alternate(
        f"throughput {path}",
        lambda side, probe: httpload.concurrent(
            clients[side], path, concurrency, seconds, warmup=1.0, probe=probe, stagger=0.1
        ),
        **kwargs,
    )


# --- the report -----------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _ms(value: float) -> str:
    return f"{value:7.1f}" if value == value else "      –"


def _x(value: float | None) -> str:
    return f"{value:6.2f}" if value is not None else "     –"


def latency_table(rows: list[tuple[str, dict]]) -> list[str]:
    lines = [
        f"  {'endpoint':<58} {'real p50':>8} {'p95':>7} {'limit p50':>9} {'p95':>7}  {'limit/real p50':>14}"
        f" {'p95':>6}  {'size':>8}  {'others':>6}"
    ]
    for label, r in rows:
        real, limit = r["real"], r["limit"]
        errors = f"  {real['errors']} errors {real['statuses']}" if real["errors"] or limit["errors"] else ""
        lines.append(
            f"  {label:<58} {_ms(real['median_ms'])}ms{_ms(real['p95_ms'])} {_ms(limit['median_ms'])}ms"
            f"{_ms(limit['p95_ms'])}  {_x(r['ratio_p50']):>14} {_x(r['ratio_p95'])}  {real['bytes'] / 1024:>6.1f}kB"
            f"  {r['other_processes_share_max']:>6.0%}{errors}"
        )
    return lines


def throughput_table(rows: list[tuple[str, dict]]) -> list[str]:
    lines = [
        f"  {'endpoint':<40} {'real req/s':>10} {'p50':>6} {'p95':>6} {'CPU/req':>7}   {'limit req/s':>11}"
        f" {'p50':>6} {'p95':>6} {'CPU/req':>7}   {'real/limit':>10}  {'others':>6}"
    ]
    for label, r in rows:
        real, limit = r["real"], r["limit"]
        errors = (
            f"  errors: real {real['statuses']}, limit {limit['statuses']}" if real["errors"] or limit["errors"] else ""
        )
        lines.append(
            f"  {label:<40} {real['requests_per_second']:>10.1f} {real['median_ms']:>6.1f} {real['p95_ms']:>6.1f}"
            f" {real['server_cpu_ms_per_request'] or 0:>7.2f}   {limit['requests_per_second']:>11.1f}"
            f" {limit['median_ms']:>6.1f} {limit['p95_ms']:>6.1f} {limit['server_cpu_ms_per_request'] or 0:>7.2f}"
            f"   {_x(r['ratio_throughput']):>10}  {r['other_processes_share_max']:>6.0%}{errors}"
        )
        for side in SIDES:
            cpu = r[side]["cpu"]
            database = f" database {cpu['servers']['database']:.1f}," if "database" in cpu["servers"] else ""
            lines.append(
                f"      {side:<5} CPU s in {cpu['seconds']:.0f} s of windows ({harness.CORES} cores): server"
                f" {cpu['servers'].get(side, 0.0):.1f}, load generator {cpu['load_generator']:.1f},{database}"
                f" other processes {cpu['other_processes']:.1f} (of which stolen by the hypervisor"
                f" {cpu['steal_share'] * harness.CORES * cpu['seconds']:.1f})"
            )
    return lines


def header(results: dict, title: str) -> list[str]:
    """The conditions of the run: when, where, which code, which server settings, how busy the machine was."""
    m, http = results["machine"], results["http"]
    return [
        f"{title} — {results['date']}",
        f"Machine   {m['cpu']}, {m['cores']} cores ({m['cores_usable']} usable), {m['memory_gib']} GiB RAM",
        f"          {m['os']}; Python {m['python']}",
        f"Database  {results['database']}",
        f"Code      {results['tree']} at {results['revision']}; translations: {results['translations']}",
        f"Server    python -m secgov serve --workers {results['settings']['workers']}: gunicorn"
        f" { ({k: v for k, v in http['gunicorn']['settings'].items() if k != 'bind'}) }",
        "Limit     bench/limit_app.py: plain Flask replaying the recorded answers, the same gunicorn settings",
        f"Other load on the machine: {results['other_load_before_import']:.0%} of the CPU before the import,"
        f" {results['import']['other_processes_share']:.0%} during it, {http['other_load_before_http']:.0%} before"
        f" the HTTP measurements; {results['waited_for_quiet_s']} s spent waiting for a quiet machine",
        f"Python speed probe (harness.python_speed, lower is faster): {results['python_speed_ms'][0]} ms at the"
        f" start, {results['python_speed_ms'][1]} ms before the HTTP measurements",
    ]


def queries_table(labels: dict[str, str], small: dict, large: dict) -> list[str]:
    lines = [
        f"  {'endpoint':<62} {'small':>5} {'large':>6}  {'SQL ms small/large':>18}  {'request ms small/large':>22}"
    ]
    for key, label in labels.items():
        if key in small:
            a, b = small[key], large[key]
            lines.append(
                f"  {label:<62} {a['queries']:>5} {b['queries']:>6}  {a['sql_ms']:>8.1f} / {b['sql_ms']:<8.1f}"
                f"  {a['in_process_ms']:>10.1f} / {b['in_process_ms']:<10.1f}"
            )
    return lines


def profile_lines(profiles: dict) -> list[str]:
    lines = []
    for key, prof in profiles.items():
        lines += ["", f"Profile of {key} (cProfile, in-process, ms per request; listing in {prof['listing']}):"]
        lines += [f"      {title:<48} {ms:>8.2f}" for title, ms in prof["breakdown_ms_per_request"]]
        lines += [f"        {name:<70} {ms:>8.2f}" for name, ms in prof["project_functions_cumulative_ms"][:8]]
    return lines


def goal_lines(goals: list[dict], title: str) -> list[str]:
    lines = ["", f"{title}: {sum(g['pass'] for g in goals)} of {len(goals)} met"]
    return lines + [f"  {verdict(g['pass'])}  {g['goal']:<80} {g['measured']}" for g in goals]


def write_json(results: dict, path: Path) -> None:
    def clean(value):
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if not str(k).startswith("_")}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(clean(results), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
