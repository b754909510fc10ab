"""HTML to PDF in a child process, with a wall-clock and a memory limit.

`render_pdf(html, limits)` starts `python -m secgov.reports.child OUT MAX_BYTES`, which limits
its own address space (RLIMIT_AS), reads the HTML from standard input, renders it with the locked
fetcher (`secgov.reports.fetcher`), writes the PDF to OUT and prints its page count. The parent
kills a child that runs past its time. Whatever goes wrong becomes `RenderFailed` with a reason:

- fetch_refused: the document references something other than `data:` or the static files;
- render_timeout: the child ran longer than its limit (killed);
- render_memory: the child ran out of its memory limit;
- render_failed: any other failure (a crash, a signal, an error of WeasyPrint).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from secgov.codes import N_
from secgov.reports.child import EXIT_MEMORY, EXIT_REFUSED

ROOT = Path(__file__).resolve().parent.parent.parent  # the folder holding the secgov package

REASONS: dict[str, str] = {
    "fetch_refused": N_("The report referenced a file or an address it may not use; nothing was fetched."),
    "render_timeout": N_("Rendering the PDF took longer than its time limit."),
    "render_memory": N_("Rendering the PDF needed more memory than its limit."),
    "render_failed": N_("The PDF could not be rendered."),
}


@dataclass(frozen=True)
class Limits:
    max_seconds: float = 300
    max_bytes: int = 2 * 1024**3


@dataclass(frozen=True)
class Rendered:
    pdf: bytes
    pages: int


class RenderFailed(Exception):
    """The render failed for a reason of REASONS; detail is for the operator (English)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def render_pdf(html: str, limits: Limits = Limits()) -> Rendered:
    """The PDF of html, rendered in a child process within limits (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="secgov-report-") as folder:
        out = Path(folder) / "report.pdf"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        command = [sys.executable, "-m", "secgov.reports.child", str(out), str(int(limits.max_bytes))]
        try:
            done = subprocess.run(  # noqa: S603 - our own interpreter and module, no shell
                command,
                input=html.encode("utf-8"),
                capture_output=True,
                timeout=limits.max_seconds,
                env=env,
                cwd=folder,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise RenderFailed("render_timeout", f"killed after {limits.max_seconds} s") from None
        stderr = done.stderr.decode("utf-8", "replace")
        detail = stderr.strip().splitlines()[-1:] or [""]
        if done.returncode == EXIT_REFUSED:
            raise RenderFailed("fetch_refused", detail[0][:300])
        if done.returncode == EXIT_MEMORY or (done.returncode != 0 and _out_of_memory(stderr)):
            raise RenderFailed("render_memory", f"limit {limits.max_bytes} bytes: {detail[0][:200]}")
        if done.returncode != 0 or not out.is_file():
            raise RenderFailed("render_failed", f"exit {done.returncode}: {detail[0][:300]}")
        try:
            pages = int(json.loads(done.stdout.decode("utf-8"))["pages"])
        except (ValueError, KeyError, TypeError):
            raise RenderFailed("render_failed", "the renderer gave no page count") from None
        return Rendered(out.read_bytes(), pages)


# How running out of the address-space limit shows when it is not a Python MemoryError: a library
# (Pango, GLib, cairo) that cannot map memory or start a thread aborts or raises its own error.
_MEMORY_SIGNS = (
    "MemoryError",
    "Cannot allocate memory",
    "out of memory",
    "Error creating thread",
    "Resource temporarily unavailable",
    "failed to allocate",
    "std::bad_alloc",
)


def _out_of_memory(stderr: str) -> bool:
    lowered = stderr.lower()
    return any(sign.lower() in lowered for sign in _MEMORY_SIGNS)
