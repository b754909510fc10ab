"""The locked URL fetcher of report rendering (SECURITY.md, PDF rendering).

WeasyPrint fetches what a document references (style sheets, images, fonts named by URL). A
report may only use `data:` URLs and the application's own static files, which are read from
`secgov/static` directly (no HTTP); anything else (`file:`, `http:`, `https:`, an attachment, a
path that climbs out of the static folder) is refused. The refusal is fatal: `fail_on_errors`
makes WeasyPrint raise `FatalURLFetchingError` (a BaseException), so a refused reference stops the
render instead of being skipped with a warning.

The fetcher must be given to `HTML(...)`; one given to `write_pdf` is ignored.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from urllib.parse import unquote, urlsplit

from weasyprint.urls import URLFetcher, URLFetcherResponse

STATIC = Path(__file__).resolve().parent.parent / "static"
# The base URL of a report's HTML: relative references resolve under it and are read from STATIC.
# A name of the reserved .invalid domain: nothing on the network ever answers to it.
STATIC_BASE = "https://static.secgov.invalid/"


class Refused(ValueError):
    """A reference the report may not use."""


class LockedFetcher(URLFetcher):
    """Allows `data:` URLs and files of the static folder (under STATIC_BASE); refuses the rest."""

    def __init__(self, static: Path = STATIC) -> None:
        super().__init__(timeout=1, allowed_protocols={"data", "https"}, allow_redirects=False, fail_on_errors=True)
        self.static = static.resolve()
        self.refused: list[str] = []

    def fetch(self, url: str, headers=None) -> URLFetcherResponse:
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme == "data":
            return super().fetch(url, headers)  # decoded by urllib's DataHandler, no I/O
        if url.startswith(STATIC_BASE):
            return self._static(url)
        self.refused.append(url[:200])
        raise Refused(f"reference refused: {url[:200]}")

    def _static(self, url: str) -> URLFetcherResponse:
        path = unquote(urlsplit(url).path).lstrip("/")
        target = (self.static / path).resolve()
        if not target.is_relative_to(self.static) or not target.is_file():
            self.refused.append(url[:200])
            raise Refused(f"not a static file: {url[:200]}")
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        return URLFetcherResponse(url, target.read_bytes(), {"Content-Type": kind})
