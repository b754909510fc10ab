"""The scans domain's commands, added to `python -m secgov` through the registry.

`scan run ASSET_CODE` asks for a scan of an asset (the same service as `POST /api/v1/scans`):
queued to the asset's network zone, as the user of --as (an officer or an admin) or as the
system, within the authorizations like any scan; it prints the scan's id and status. With
SECGOV_TASKS_IMMEDIATE the scan runs at once, in this process. `scan import ASSET_CODE FILE`
records nmap XML run elsewhere. Exit status 2 for bad input or a refusal.
"""

from __future__ import annotations

from pathlib import Path

import click
from sqlmodel import Session

from assets.services import asset_by_code
from scans import jobs, services, xmlparse
from scans.codes import SCAN_PROFILE
from scans.models import Scan
from scans.schemas import ScanRequest
from secgov.authz import Actor
from secgov.commands import acting, app_of, config_of, fail, transaction
from secgov.db import new_session
from secgov.errors import ServiceError
from secgov.tasks import hand_over, platform_of

AS_USER = click.option(
    "--as", "username", default=None, metavar="USERNAME", help="Act as this officer or admin (default: the system)."
)


@click.group("scan")
def scan_group() -> None:
    """Network scans of the assets."""


def _asset_id(session: Session, code: str) -> int:
    asset = asset_by_code(session, code)
    if asset is None:
        fail(f"no asset with the code {code}", 2)
    return asset.id


def _writer(session: Session, username: str | None) -> Actor:
    return acting(session, username, services.WRITERS)


@scan_group.command("run")
@click.argument("asset_code")
@click.option(
    "--profile", type=click.Choice(SCAN_PROFILE.codes), default="standard", show_default=True, help="The nmap profile."
)
@AS_USER
@click.pass_context
def run(ctx: click.Context, asset_code: str, profile: str, username: str | None) -> None:
    """Ask for a scan of an asset's network targets and print its id and status."""
    app = app_of(ctx)
    config = config_of(app)
    with app.app_context():
        try:
            with transaction(app) as session:
                who = _writer(session, username)
                data = ScanRequest(asset_id=_asset_id(session, asset_code), profile=profile)
                scan = services.request_scan(session, who, data, config, kind=jobs.SCAN)
                scan_id = scan.id
                hand_over(session, platform_of(app), [scan.run_id])
        except ServiceError as exc:
            fail(exc.message, 2)
        _print(app, scan_id)


@scan_group.command("import")
@click.argument("asset_code")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@AS_USER
@click.pass_context
def import_(ctx: click.Context, asset_code: str, file: Path, username: str | None) -> None:
    """Record nmap XML run elsewhere (nmap -oX) as a scan of an asset, with its findings."""
    app = app_of(ctx)
    limit = config_of(app).max_upload_bytes
    with file.open("rb") as handle:
        raw = handle.read(limit + 1)
    with app.app_context():
        try:
            parsed = xmlparse.parse(raw, max_bytes=limit)
        except xmlparse.XmlError as exc:
            fail(services.import_error(exc, limit), 2)
        try:
            with transaction(app) as session:
                who = _writer(session, username)
                scan = services.import_xml(session, who, _asset_id(session, asset_code), raw, parsed, name=file.name)
                scan_id = scan.id
        except ServiceError as exc:
            fail(exc.message, 2)
        _print(app, scan_id)


def _print(app, scan_id: int) -> None:
    with new_session(app.extensions["secgov_engine"], write=False) as session:
        scan = session.get(Scan, scan_id)
        line = f"scan #{scan.id} {scan.status}"
        if scan.status == "succeeded":
            line += f": {scan.hosts_up or 0}/{scan.hosts_total or 0} hosts up, {scan.open_ports or 0} open ports, "
            line += f"{scan.findings or 0} findings"
        elif scan.status == "failed":
            line += f": {scan.error} {scan.detail}".rstrip()
        click.echo(line)


COMMANDS = (scan_group,)
