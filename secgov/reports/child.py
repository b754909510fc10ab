"""The render's child process: `python -m secgov.reports.child OUT MAX_BYTES` (started by
`secgov.reports.render.render_pdf`).

It limits its own address space (RLIMIT_AS), reads the HTML from standard input, renders it with
the locked fetcher (`secgov.reports.fetcher`), writes the PDF to OUT and prints its page count as
JSON; its exit code tells the parent what went wrong. It imports WeasyPrint and the fetcher and
nothing else of the application (no Flask, no Babel): its start-up is part of every report's time,
and the benchmark (bench/bench_reports.py) holds the whole report to 1.2 × a bare WeasyPrint
render of the same HTML.
"""

from __future__ import annotations

import json
import resource
import sys

EXIT_REFUSED = 3
EXIT_MEMORY = 4
EXIT_ERROR = 5


def main(out: str, max_bytes: int) -> int:
    """Render standard input's HTML to out; 0, or the exit code of what went wrong. The memory
    limit is set once WeasyPrint and its libraries are loaded: it bounds the render, not the
    loading of shared libraries (which would fail as something else)."""
    try:
        from weasyprint import HTML
        from weasyprint.urls import FatalURLFetchingError

        from secgov.reports.fetcher import STATIC_BASE, LockedFetcher
    except Exception as exc:  # noqa: BLE001 - a broken installation is the parent's render_failed
        print(f"{type(exc).__name__}: {exc}"[:500], file=sys.stderr)
        return EXIT_ERROR
    resource.setrlimit(resource.RLIMIT_AS, (max_bytes, max_bytes))
    try:
        html = sys.stdin.buffer.read().decode("utf-8")
        fetcher = LockedFetcher()
        try:
            document = HTML(string=html, base_url=STATIC_BASE, url_fetcher=fetcher).render()
            document.write_pdf(out)
        except FatalURLFetchingError:
            print(f"refused: {', '.join(fetcher.refused)}", file=sys.stderr)
            return EXIT_REFUSED
        print(json.dumps({"pages": len(document.pages)}))
        return 0
    except MemoryError:
        return EXIT_MEMORY
    except Exception as exc:  # noqa: BLE001 - any failure is the parent's render_failed
        print(f"{type(exc).__name__}: {exc}"[:500], file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
