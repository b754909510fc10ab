"""What a network zone's agent does with a scan task (`secgov.agent` runs it, on a host inside
the zone, without database credentials): the argument vector built centrally is checked again
(`profiles.check_argv`), nmap runs under the time limit the task carries, and the XML, the
timings and nmap's failure reasons go back as replies; nothing here reads or writes the database.
Storing, diffing and findings happen centrally (`scans.zones`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

from scans import nmap, profiles


def work(task: Mapping[str, Any], reply: Callable[[Mapping[str, Any]], None]) -> None:
    """Run one scan task: "started" once the argv passed the check, then "done" with the XML or
    "failed" with nmap's reason."""
    base = {"run_id": int(task["run_id"]), "attempt": int(task["attempt"]), "scan_id": int(task["scan_id"])}
    argv = [str(arg) for arg in task.get("argv") or []]
    try:
        profiles.check_argv(argv)
    except ValueError as exc:
        reply({**base, "type": "failed", "reason": "refused", "detail": str(exc)[:300]})
        return
    reply({**base, "type": "started"})
    try:
        outcome = nmap.run(argv, timeout=float(task["timeout"]))
    except nmap.NmapError as exc:
        reply({**base, "type": "failed", "reason": exc.reason, "detail": str(exc.detail)[:1000]})
        return
    reply(
        {
            **base,
            "type": "done",
            "xml": outcome.xml,
            "started_at": outcome.started_at.isoformat(),
            "finished_at": outcome.finished_at.isoformat(),
            "elapsed": outcome.elapsed,
        }
    )


@cache
def _version() -> str:
    try:
        return nmap.nmap_version()
    except Exception:  # noqa: BLE001 - reported as unknown; a scan says why it fails
        return ""


def describe() -> dict[str, Any]:
    """What the agent's heartbeat tells of its host: the nmap version."""
    return {"nmap_version": _version()}
