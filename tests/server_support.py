"""The production server (`python -m secgov serve`) started by a test on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from helpers import DATA_KEY


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment_of(database_url: str, instance: Path, **env: str) -> dict[str, str]:
    """The environment of the server and of the commands run against its database."""
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "serve-test-key",
        "SECGOV_INSTANCE_PATH": str(instance),
        "SECGOV_LOG_LEVEL": "WARNING",
        "SECGOV_DATA_KEYS": DATA_KEY,
        **env,
    }
    environment.pop("REDIS_URL", None)
    return environment


class Server:
    """`python -m secgov serve` with two workers on a free loopback port; its output is collected
    line by line as it comes."""

    def __init__(self, database_url: str, instance: Path, **env: str) -> None:
        port = free_port()
        environment = environment_of(database_url, instance, **env)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "secgov", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=2) as response:  # noqa: S310 - loopback URL built here
                    if response.status == 200:
                        break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    pytest.fail("server did not start:\n" + "".join(self.lines))
                time.sleep(0.2)

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.decode(errors="replace"))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=5)
        self.proc.stdout.close()
