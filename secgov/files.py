"""Files in requests and answers, for pages and the API alike: uploaded register files within
their limit, downloads as attachments."""

from __future__ import annotations

from flask import Blueprint, Response, request

from secgov.exchange import Export
from secgov.web import service_config

# Room for the multipart framing, the CSRF token and the checkbox around the file itself.
FORM_OVERHEAD = 64 * 1024


class UploadTooLarge(Exception):
    """The uploaded file is above the configured limit."""


def read_upload(name: str = "file") -> tuple[bytes, str] | None:
    """The uploaded file's bytes and name; None when none was sent; UploadTooLarge above the limit."""
    upload = request.files.get(name)
    if upload is None or not upload.filename:
        return None
    limit = service_config().max_upload_bytes
    try:
        data = upload.stream.read(limit + 1)
    finally:
        upload.close()  # a large upload is spooled to a temporary file: release it now
    if len(data) > limit:
        raise UploadTooLarge
    return data, upload.filename


def limit_uploads(blueprint: Blueprint, endpoints: set[str]) -> None:
    """Let the upload endpoints of a blueprint take a register file (and no more), whatever the
    app's general body limit. URL value preprocessors run before every before_request hook, and
    the CSRF check (one of those) reads the body: the limit must be set before anything does."""

    @blueprint.url_value_preprocessor
    def _upload_limit(endpoint: str | None, _values: dict | None) -> None:
        if endpoint in endpoints:
            request.max_content_length = service_config().max_upload_bytes + FORM_OVERHEAD


def attachment(made: Export) -> Response:
    """A file download with a safe, dated name."""
    return Response(
        made.data,
        content_type=made.content_type,
        headers={"Content-Disposition": f'attachment; filename="{made.filename}"'},
    )
