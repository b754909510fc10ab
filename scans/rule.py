"""The scans domain's rules that need no database: which assets are fragile, when a fragile
asset's maintenance windows let a scan start, which queue serves a network zone, and which
profiles an authorization allows. Pure: no Flask, no session."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, time

from scans.codes import PROFILE_RANK

# Sectors whose critical information infrastructure is fragile unless an officer says otherwise
# (SCADA, PLCs: a port scan can stop a controller).
FRAGILE_SECTORS = ("utilities", "energy")
# A fragile asset without a rate of its own is scanned at most this many packets per second.
FRAGILE_MAX_RATE = 20
# The zone every asset and authorization is in unless given another; the default queue serves it.
LOCAL_ZONE = "local"
ZONE = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
# An agent heard of within this many seconds is live.
AGENT_LIVE_SECONDS = 180


def is_fragile(sector: str, is_cii: bool, marked: bool | None) -> bool:
    """An asset is fragile when an officer marked it so, or by default when it is CII in a
    fragile sector."""
    if marked is not None:
        return marked
    return bool(is_cii) and sector in FRAGILE_SECTORS


def queue_of(zone: str) -> str:
    """The queue that carries a zone's scans: `default` for the local zone, `scan.<zone>` else."""
    return "default" if zone == LOCAL_ZONE else f"scan.{zone}"


def allowed_profile(profile: str, ceiling: str) -> bool:
    """Is `profile` no stronger than `ceiling`?"""
    return PROFILE_RANK[profile] <= PROFILE_RANK[ceiling]


def _minutes(text: str) -> int:
    parsed = time.fromisoformat(text)
    return parsed.hour * 60 + parsed.minute


def in_window(windows: Sequence[Mapping], when: datetime) -> bool:
    """May a scan start at `when` (local time of the city)? No windows: any time. A window runs
    from `start` to `end` on each of its `days` (0 is Monday); an end before its start runs past
    midnight into the next day."""
    if not windows:
        return True
    minute = when.hour * 60 + when.minute
    day = when.weekday()
    for window in windows:
        start, end, days = _minutes(window["start"]), _minutes(window["end"]), set(window["days"])
        if start < end:
            if day in days and start <= minute < end:
                return True
        elif (day in days and minute >= start) or ((day - 1) % 7 in days and minute < end):
            return True
    return False


def describe_windows(windows: Sequence[Mapping], day_names: Sequence[str]) -> list[str]:
    """Each window as text: "Mon, Sat 01:00–05:00" with the reader's day names."""
    return [f"{', '.join(day_names[d] for d in sorted(w['days']))} {w['start']}–{w['end']}" for w in windows]
