"""Running nmap: one checked argument vector, no shell, a hard time limit.

:func:`run` refuses any vector :func:`scans.profiles.check_argv` does not accept, starts nmap in a
session of its own (so that a time-out kills nmap and anything it started, as one process group)
and returns its XML untouched: parsing is :mod:`scans.xmlparse`'s job. Every failure is an
:class:`NmapError` with a stable ``reason``; its ``detail`` is short English for the logs.
"""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import defusedxml.ElementTree
import nmap as python_nmap

from scans.profiles import check_argv, check_program

__all__ = ["REASONS", "NmapError", "Outcome", "command_line", "nmap_version", "run"]

REASONS = ("nmap_missing", "nmap_failed", "timeout", "refused")
_DETAIL_LENGTH = 200
_END = b"</nmaprun>"
_VERSION = re.compile(r"Nmap version ([0-9][0-9A-Za-z.\-]*)")
# After the kill: how long to wait for the pipes to close before giving up on the output.
_REAP_SECONDS = 5.0


class NmapError(Exception):
    """A run that gave no usable XML: ``reason`` in :data:`REASONS`, ``detail`` short English."""

    def __init__(self, reason: str, detail: str = "") -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown reason {reason!r}")
        self.reason = reason
        self.detail = _short(detail)
        super().__init__(f"{reason}: {self.detail}" if self.detail else reason)


@dataclass(frozen=True)
class Outcome:
    """What nmap gave back: its XML (bytes, unparsed), its error output and its timing."""

    xml: bytes
    stderr: str
    returncode: int
    started_at: datetime
    finished_at: datetime
    elapsed: float


def _short(text: str) -> str:
    """The first non-empty line, cut to a size fit for a log line or a table cell."""
    for line in text.splitlines():
        line = line.strip()
        if line:
            return line if len(line) <= _DETAIL_LENGTH else line[: _DETAIL_LENGTH - 3] + "..."
    return ""


def _kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the process group nmap leads (start_new_session made its pid the group id)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # already gone (and reaped); a recycled pid would belong to another user's group
    try:
        process.communicate(timeout=_REAP_SECONDS)
    except subprocess.TimeoutExpired:  # a descendant left the group and holds the pipes open
        process.kill()
        process.wait()


def run(argv: Sequence[str], *, timeout: float, launcher: Callable[..., subprocess.Popen] | None = None) -> Outcome:
    """Run a checked nmap vector; raises NmapError (refused, nmap_missing, timeout, nmap_failed)."""
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not (0 < timeout and math.isfinite(timeout))
    ):
        raise ValueError("timeout must be a positive number of seconds")
    try:
        check_argv(argv)
    except ValueError as refused:
        raise NmapError("refused", str(refused)) from None
    launch = launcher or subprocess.Popen
    started_at, start = datetime.now(UTC), time.monotonic()
    try:
        process = launch(
            list(argv),
            shell=False,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            close_fds=True,
        )
    except FileNotFoundError as missing:
        raise NmapError("nmap_missing", f"{argv[0]}: {missing.strerror or missing}") from None
    except (OSError, subprocess.SubprocessError) as failed:
        raise NmapError("nmap_failed", f"{argv[0]}: {failed}") from None
    try:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            raise NmapError("timeout", f"no answer after {timeout:g} s; process group killed") from None
        except (OSError, subprocess.SubprocessError) as failed:
            _kill_group(process)
            raise NmapError("nmap_failed", str(failed)) from None
    except BaseException:
        if process.poll() is None:  # interrupted (KeyboardInterrupt, a worker's shutdown): no orphan nmap
            _kill_group(process)
        raise
    finished_at, elapsed = datetime.now(UTC), time.monotonic() - start
    errors = (stderr or b"").decode("utf-8", "replace")
    if process.returncode != 0:
        raise NmapError("nmap_failed", errors or f"exit status {process.returncode}")
    if not stdout or _END not in stdout[-4096:]:
        raise NmapError("nmap_failed", errors or "no XML, or the XML is cut short (no </nmaprun>)")
    return Outcome(stdout, errors, process.returncode, started_at, finished_at, elapsed)


def nmap_version(nmap: str = "nmap") -> str:
    """The version nmap reports (``7.93``); raises NmapError when it cannot be run or read."""
    program = check_program(nmap)
    try:
        answer = subprocess.run(  # noqa: S603 - fixed vector, the program name checked above
            [program, "-V"],
            shell=False,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=30,
            check=False,
            close_fds=True,
        )
    except FileNotFoundError as missing:
        raise NmapError("nmap_missing", f"{program}: {missing.strerror or missing}") from None
    except subprocess.TimeoutExpired:
        raise NmapError("timeout", f"{program} -V gave no answer") from None
    except (OSError, subprocess.SubprocessError) as failed:
        raise NmapError("nmap_failed", f"{program}: {failed}") from None
    found = _VERSION.search(answer.stdout.decode("utf-8", "replace"))
    if answer.returncode != 0 or found is None:
        raise NmapError("nmap_failed", answer.stderr.decode("utf-8", "replace") or "no version in nmap -V")
    return found.group(1)


def command_line(xml: bytes) -> str:
    """The command line recorded in nmap's XML (``<nmaprun args=...>``), read by python-nmap.

    python-nmap parses with the standard library's ElementTree, which is not hardened, so the XML is
    first parsed with defusedxml (entities and external references refused): hand it only XML that
    :mod:`scans.xmlparse` has already accepted. Raises ValueError on anything python-nmap cannot read.
    """
    try:
        defusedxml.ElementTree.fromstring(xml)
    except (defusedxml.ElementTree.ParseError, ValueError) as refused:  # ValueError: DefusedXmlException
        raise ValueError(f"not well-formed nmap XML: {refused}") from None
    # PortScanner() runs `nmap -V` on construction only to learn nmap's version, which reading a
    # stored result does not need: analyse_nmap_xml_scan sets all the state command_line() reads.
    scanner = python_nmap.PortScanner.__new__(python_nmap.PortScanner)
    try:
        scanner.analyse_nmap_xml_scan(nmap_xml_output=xml)
        return scanner.command_line() or ""
    except (python_nmap.PortScannerError, AttributeError, KeyError, TypeError, AssertionError) as failed:
        raise ValueError(f"python-nmap cannot read this XML: {failed}") from None
