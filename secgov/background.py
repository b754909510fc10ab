"""The background processes: the scheduler, the workers, and `serve`'s supervision of both for a
single machine.

    python -m secgov serve            web + the scheduler + one worker (child processes)
    python -m secgov serve --no-scheduler --no-worker     web only
    python -m secgov scheduler        the one scheduler (exit 3 while another holds the lock)
    python -m secgov worker           a worker of the default queue (the local zone's scans too)
    python -m secgov worker --zone Z  network zone Z's agent, without the database (secgov.agent)

The scheduler and the workers are processes of their own, never a web worker nor the reloader:
gunicorn's workers import the app, not this module.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

from flask import Flask
from huey.consumer import Consumer

from secgov.scheduler import LeaseHeld, Scheduler
from secgov.tasks import DEFAULT_QUEUE, platform_of

log = logging.getLogger("secgov.background")

LEASE_HELD_EXIT = 3


def queue_of_zone(zone: str | None) -> str:
    """The queue a worker serves: the default queue (reports, mail, imports, the `local` zone's
    scans), or a network zone's scans."""
    return DEFAULT_QUEUE if zone in (None, "", "local") else f"scan.{zone}"


def run_scheduler(app: Flask) -> int:
    """Run the scheduler until SIGTERM or SIGINT; 3 when another scheduler holds the lock."""
    scheduler = Scheduler(app)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: scheduler.stop())
    try:
        scheduler.run()
    except LeaseHeld as exc:
        log.error("not starting: %s", exc)
        print(f"error: {exc}; only one scheduler may run", file=sys.stderr)
        return LEASE_HELD_EXIT
    return 0


def run_worker(app: Flask, zone: str | None = None, threads: int = 2) -> int:
    """Run a Huey consumer of one queue until stopped; periodic tasks off (the scheduler is the only
    clock). Thread workers: each run checks its deadline between steps, and the reaper fails a run
    that overstays it."""
    platform = platform_of(app)
    queue = queue_of_zone(zone)
    huey = platform.queue(queue)
    log.info("worker of queue %s (%s) starting with %d threads", queue, platform.backend, threads)
    consumer = Consumer(huey, workers=threads, periodic=False, worker_type="thread", check_worker_health=True)
    consumer.run()
    return 0


class Supervisor:
    """`serve`'s children: the scheduler and a worker, started again when one dies. A scheduler that
    found the lock held (exit 3) is started again every `standby_seconds` (the lease's length): it
    takes over when the scheduler holding the lock is gone, be it on another machine or this one's
    previous scheduler, killed before it could release its lease."""

    def __init__(self, commands: Sequence[Sequence[str]], standby_seconds: float = 30, every: float = 2):
        self.commands = [list(c) for c in commands]
        self.standby_seconds = standby_seconds
        self.every = every
        self.children: dict[int, subprocess.Popen] = {}
        self._due: dict[int, float] = {}  # children waiting to be started again, and when
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)

    def start(self) -> None:
        for index, command in enumerate(self.commands):
            self.children[index] = subprocess.Popen(command)  # noqa: S603 - our own interpreter and module
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(self.every):
            now = time.monotonic()
            for index, child in list(self.children.items()):
                code = child.poll()
                if code is None:
                    continue
                del self.children[index]
                name = " ".join(self.commands[index][2:])
                if code == LEASE_HELD_EXIT:
                    log.info("%s not started here: another one holds the lock; trying again later", name)
                    self._due[index] = now + self.standby_seconds
                else:
                    log.error("%s exited with %s; starting it again", name, code)
                    self._due[index] = now + 1
            for index, due in list(self._due.items()):
                if due <= now and not self._stop.is_set():
                    del self._due[index]
                    self.children[index] = subprocess.Popen(self.commands[index])  # noqa: S603

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)  # no child is started once this returns
        for child in self.children.values():
            if child.poll() is None:
                child.terminate()
        for child in self.children.values():
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()


def child_commands(scheduler: bool, worker: bool) -> list[list[str]]:
    base = [sys.executable, "-m", "secgov"]
    return [*([[*base, "scheduler"]] if scheduler else []), *([[*base, "worker"]] if worker else [])]
