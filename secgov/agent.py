"""A network zone's agent: `python -m secgov worker --zone NAME` on a host inside that zone.

The agent holds no database credentials and builds no app: its configuration is the environment
without DATABASE_URL, and it reaches only the task queue (Redis, SQLite, or a PostgreSQL queue
database of its own: SECGOV_TASKS_DATABASE_URL) and the signing key. It consumes the zone's
queue `scan.<zone>` only, where every task is a "remote" task whose payload was built centrally
(`secgov.runs.Remote.hand_off`), and it answers through "reply" tasks on the default queue,
which the central workers hand to the kind's `on_reply`. Every `SECGOV_RUN_BEAT_SECONDS` it
sends a heartbeat for each remote kind, naming the runs it is working on (the central side
records the agent as live and beats those runs, so the reaper sees them alive).

A task is done once per (run, attempt) by one agent process: a copy handed over again (the
reaper re-hands a queued run nobody took) is dropped.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
from collections.abc import Mapping
from typing import Any

from huey.consumer import Consumer

from secgov.config import from_environment
from secgov.runs import JobKind
from secgov.tasks import DEFAULT_QUEUE, REMOTE_TASK, REPLY_TASK, make_huey, register_task

log = logging.getLogger("secgov.agent")

ZONE = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


def agent_config() -> dict[str, Any]:
    """The agent's configuration: the environment's, without the application's database."""
    config = from_environment()
    config["DATABASE_URL"] = None
    config["SECGOV_TASKS_IMMEDIATE"] = False
    return config


class Agent:
    """The agent of one zone: its queue, its replies and its heartbeat."""

    def __init__(self, config: Mapping[str, Any], kinds: Mapping[str, JobKind], zone: str, name: str = ""):
        if not ZONE.fullmatch(zone):
            raise ValueError(f"not a network zone: {zone!r}")
        self.zone = zone
        self.name = (name or socket.gethostname())[:80]
        self.kinds = {code: kind for code, kind in kinds.items() if kind.remote is not None}
        self.beat_seconds = float(config.get("SECGOV_RUN_BEAT_SECONDS") or 10)
        self.queue = make_huey(config, f"scan.{zone}")
        register_task(self.queue, REMOTE_TASK, self.handle)
        self.replies = make_huey(config, DEFAULT_QUEUE)
        self._reply = register_task(self.replies, REPLY_TASK, _central_only)
        self._lock = threading.Lock()
        self._working: dict[tuple[int, int], str] = {}  # (run, attempt) -> kind, while working
        self._taken: set[tuple[int, int]] = set()
        self._stop = threading.Event()

    def reply(self, kind: str, payload: Mapping[str, Any]) -> None:
        """Send a reply of `kind` to the central workers, naming this agent and its zone."""
        message = {**payload, "kind": kind, "zone": self.zone, "agent": self.name}
        self.replies.enqueue(self._reply.s(message))

    def handle(self, payload: Mapping[str, Any]) -> None:
        """A remote task: done by its kind's `work`, once per (run, attempt)."""
        kind = self.kinds.get(str(payload.get("kind", "")))
        if kind is None:
            log.error("a task of an unknown kind (%r) was dropped", payload.get("kind"))
            return
        key = (int(payload.get("run_id") or 0), int(payload.get("attempt") or 0))
        with self._lock:
            if key in self._taken:
                log.info("run %s attempt %s was taken already; the copy is dropped", *key)
                return
            self._taken.add(key)
            self._working[key] = kind.code
        try:
            kind.remote.work(payload, lambda reply: self.reply(kind.code, reply))
        except Exception:  # noqa: BLE001 - the agent goes on; the central side is told
            log.exception("run %s of %s failed on the agent", key[0], kind.code)
            self.reply(kind.code, {"type": "failed", "run_id": key[0], "attempt": key[1], "reason": "error"})
        finally:
            with self._lock:
                self._working.pop(key, None)

    def heartbeat(self) -> None:
        """Tell the central side, for each remote kind, that this agent lives and what it runs."""
        with self._lock:
            working = list(self._working.items())
        for code, kind in self.kinds.items():
            runs = [[run_id, attempt] for (run_id, attempt), of in working if of == code]
            try:
                self.reply(code, {"type": "heartbeat", "runs": runs, **kind.remote.describe()})
            except Exception:  # noqa: BLE001 - the queue may be restarting: the next beat tries again
                log.exception("the heartbeat could not be sent")

    def _beat(self) -> None:
        self.heartbeat()
        while not self._stop.wait(self.beat_seconds):
            self.heartbeat()

    def run(self, threads: int = 1) -> int:
        """Consume the zone's queue until stopped (SIGTERM/SIGINT, as Huey's consumer handles them)."""
        log.info("agent %s of zone %s starting (%d threads)", self.name, self.zone, threads)
        beat = threading.Thread(target=self._beat, name="agent-beat", daemon=True)
        beat.start()
        try:
            Consumer(self.queue, workers=threads, periodic=False, worker_type="thread").run()
        finally:
            self._stop.set()
        return 0


def _central_only(payload: Mapping[str, Any]) -> None:  # pragma: no cover - never consumed here
    """Replies are done by the central workers (`secgov.tasks.Platform.receive`)."""
    raise RuntimeError("replies are for the central workers")
