"""The demo city's scans, made once (loading the demo again adds nothing): scan authorizations
of its loopback targets (asked for by the officers, approved by the leader; one ending within
the month, one still waiting for a decision), scan policies (the water supply SCADA and the
treatment plant fragile, scanned only in their Sunday night windows at a low rate; the city
services app in the zone `dmz`), and a few recorded scans with their findings.

No nmap runs here: the scans' XML is made by `nmap_xml` in nmap's output format, read by
`xmlparse.parse` and stored by `ingest.store` as a worker would, so that comparing each run with
the asset's previous one and its expected ports makes the findings: new open ports, unexpected
services (telnet, a database), a changed service version. The officers triage some (one a false
positive, one acknowledged) and promote one to the risk register. One scan failed (its time
limit passed). The runs are two weeks and two days old; the audit trail keeps the moment of
loading, `demo.scans_loaded` says so."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from xml.sax.saxutils import quoteattr
from zoneinfo import ZoneInfo

from flask_babel import force_locale
from sqlmodel import Session, select

from assessments import rule as assessment_rule
from assets.models import Asset
from scans import authorizations, findings, ingest, policy, profiles, xmlparse
from scans.models import Scan, ScanFinding
from scans.schemas import AuthorizationCreate, Decision, FindingPromotion, PolicyUpdate, Triage, Window
from secgov import audit, auth
from secgov.authz import Actor
from secgov.config import ServiceConfig
from secgov.models import AuditEntry

LEADER = "leader"
NMAP_VERSION = "7.93"

# Demo texts: bilingual, never a message of the catalogue.
PURPOSE_CITY = "全市信息系统年度端口核查 (yearly port review of the city's systems, loopback lab)"
PURPOSE_TRANSPORT = "交通系统上线前端口核查 (transport systems: port review before go-live)"
PURPOSE_WATER = "供水工控系统服务核查 (water SCADA: service review in the Sunday window)"
NOTE_FALSE = "调度系统自带的管理端口，厂商确认仅本机监听 (vendor console bound to the host itself)"
NOTE_ACK = "已通知厂商，计划下次维护窗口关闭 telnet (vendor told; telnet off in the next window)"

# Sunday 01:00–05:00 in the city's time: when the fragile plant systems may be scanned.
SUNDAY_NIGHT = [Window(days=[6], start="01:00", end="05:00")]


@dataclass(frozen=True)
class Port:
    number: int
    service: str
    product: str = ""
    version: str = ""
    state: str = "open"


HTTP = Port(80, "http", "nginx", "1.22.1")
HTTPS = Port(443, "https", "nginx", "1.22.1")
# asset code -> (first run's ports, second run's ports); None: that run is not made.
RUNS: dict[str, tuple[list[Port] | None, list[Port] | None]] = {
    # A port opened between the runs (new open port, unexpected).
    "TRF-INF-01": ([HTTP, HTTPS], [HTTP, HTTPS, Port(8080, "http-proxy", "Squid http proxy", "5.7")]),
    # telnet on the first run: an unexpected risky service (acknowledged by the officer).
    "TRF-CAM-01": ([HTTPS, Port(554, "rtsp"), Port(23, "telnet", "BusyBox telnetd")], None),
    # A vendor console flagged then called a false positive.
    "TRF-BUS-01": ([HTTPS, Port(8443, "https-alt", "Jetty", "9.4.51")], None),
    # The web server's version changed between the runs.
    "EGV-PORTAL-01": ([HTTPS], [Port(443, "https", "nginx", "1.24.0")]),
    # A database reachable on the billing system: promoted to a risk.
    "WTR-BILL-01": ([HTTPS, Port(3306, "mysql", "MySQL", "8.0.36")], None),
    # telnet appears on the leak monitoring platform: new, unexpected and risky (left open).
    "WTR-LEAK-01": (
        [HTTPS, Port(1883, "mqtt")],
        [HTTPS, Port(1883, "mqtt"), Port(23, "telnet", "Linux telnetd")],
    ),
    # The fragile SCADA: host discovery only, in its window.
    "WTR-SCADA-01": ([], None),
}
FAILED = "MTR-PIS-01"  # its scan ran past its time limit


def nmap_xml(host: str, ports: list[Port] | None, start: datetime, *, profile: str, argv: list[str]) -> bytes:
    """nmap's XML output (7.93, connect scan) of one host: up, with these ports (None: a
    discovery run, no port table)."""
    began = int(start.timestamp())
    ended = began + 7
    when = start.strftime("%a %b %d %H:%M:%S %Y")
    args = quoteattr(" ".join(argv)).replace("--", "-&#45;")
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<nmaprun scanner="nmap" args={args} start="{began}" startstr="{when}" version="{NMAP_VERSION}"'
        ' xmloutputversion="1.05">',
    ]
    if ports is not None:
        lines.append('<scaninfo type="connect" protocol="tcp" numservices="1000" services="1-1000"/>')
    lines += [
        '<verbose level="0"/>',
        '<debugging level="0"/>',
        f'<host starttime="{began}" endtime="{ended}"><status state="up" reason="conn-refused" reason_ttl="0"/>',
        f'<address addr="{host}" addrtype="ipv4"/>',
        "<hostnames></hostnames>",
    ]
    if ports is not None:
        lines.append(f'<ports><extraports state="closed" count="{1000 - len(ports)}"></extraports>')
        for port in sorted(ports, key=lambda p: p.number):
            service = f'<service name="{port.service}"'
            service += f' product="{port.product}"' if port.product else ""
            service += f' version="{port.version}"' if port.version else ""
            service += ' method="probed" conf="10"/>' if port.product else ' method="table" conf="3"/>'
            lines.append(
                f'<port protocol="tcp" portid="{port.number}"><state state="{port.state}" reason="syn-ack"'
                f' reason_ttl="0"/>{service}</port>'
            )
        lines.append("</ports>")
    lines += [
        "</host>",
        f'<runstats><finished time="{ended}" timestr="{when}" elapsed="7.02" exit="success"/>'
        '<hosts up="1" down="0" total="1"/></runstats>',
        "</nmaprun>",
        "",
    ]
    return "\n".join(lines).encode("utf-8")


def load(session: Session, actor: Actor, config: ServiceConfig) -> None:
    """Make the demo city's scan authorizations, policies, scans and findings, in the caller's
    transaction, unless they were made before."""
    done = select(AuditEntry.seq).where(AuditEntry.action == "demo.scans_loaded").limit(1)
    if session.exec(done).first() is not None:
        return
    people = {name: auth.find_user(session, name) for name in ("officer", "officer.transport", LEADER)}
    if any(user is None for user in people.values()):
        return
    officer = Actor.of(people["officer"], "cli")
    transport = Actor.of(people["officer.transport"], "cli")
    leader = Actor.of(people[LEADER], "cli")
    assets = {a.code: a for a in session.exec(select(Asset).where(Asset.code.in_([*RUNS, FAILED]))).all()}
    if len(assets) < len(RUNS) + 1:
        return
    now = datetime.now(UTC)
    city = _authorize(session, officer, leader, config, ["127.0.0.0/24"], PURPOSE_CITY, "city", now, days=300)
    _authorize(
        session, transport, leader, config, [f"127.0.0.{n}" for n in range(11, 21)], PURPOSE_TRANSPORT,
        "transport", now, days=20,
    )  # fmt: skip
    authorizations.request(
        session,
        officer,
        AuthorizationCreate(
            scope=["127.0.0.21", "127.0.0.22"],
            purpose=PURPOSE_WATER,
            valid_from=now,
            valid_until=now + timedelta(90),
            fragile_profile="quick",
            department="water",
        ),  # fmt: skip
        config,
    )
    _policies(session, officer, transport)
    made = _scans(session, assets, city.id, officer, transport, now, config.timezone)
    _triage(session, assets, officer, transport, config)
    audit.record(
        session, actor, "demo.scans_loaded", object_type="scan", scans=made,
        note="scan times backdated: the rows say when each scan ran, the audit entries when the demo was loaded",
    )  # fmt: skip


def _authorize(session, requester, leader, config, scope, purpose, department, now, *, days):
    row = authorizations.request(
        session,
        requester,
        AuthorizationCreate(
            scope=scope,
            purpose=purpose,
            valid_from=now - timedelta(days=30),
            valid_until=now + timedelta(days=days),
            department=department,
        ),  # fmt: skip
        config,
    )
    return authorizations.approve(session, leader, row.id, Decision(version=row.version), config)


def _policies(session: Session, officer: Actor, transport: Actor) -> None:
    for code in ("WTR-SCADA-01", "WTR-PLT-01"):
        asset = session.exec(select(Asset).where(Asset.code == code)).first()
        if asset is not None:
            policy.update(session, officer, asset.id, PolicyUpdate(fragile=True, windows=SUNDAY_NIGHT, max_rate=10))
    app = session.exec(select(Asset).where(Asset.code == "EGV-APP-01")).first()
    if app is not None:
        policy.update(session, officer, app.id, PolicyUpdate(zone="dmz"))


def _scans(session: Session, assets: dict[str, Asset], authorization_id: int, officer, transport, now, tz) -> int:
    """Two runs per asset (two weeks and two days ago), stored as the worker stores them."""
    made = 0
    for run, age in ((0, 14), (1, 2)):
        for code, pair in RUNS.items():
            ports = pair[run]
            if ports is None:
                continue
            asset = assets[code]
            applied = policy.effective(session, asset)
            profile = "discovery" if applied.fragile else "standard"
            host = asset.network_targets[0]
            argv = profiles.build_argv(profile, [host], ports=asset.expected_ports, max_rate=applied.rate)
            start = (
                _sunday_night(now - timedelta(days=age), tz) if applied.fragile else now - timedelta(days=age, hours=3)
            )
            xml = nmap_xml(host, None if profile == "discovery" else ports, start, profile=profile, argv=argv)
            parsed = xmlparse.parse(xml)
            scan = _scan(asset, profile, argv, authorization_id, officer if code[:3] != "TRF" else transport, start)
            session.add(scan)
            session.flush()
            ingest.store(session, scan, asset, xml, parsed, command_line=parsed.args)
            for finding in session.exec(select(ScanFinding).where(ScanFinding.scan_id == scan.id)).all():
                finding.created_at = scan.finished_at
                session.add(finding)
            made += 1
    asset = assets[FAILED]
    start = now - timedelta(days=3)
    argv = profiles.build_argv("full_tcp", [asset.network_targets[0]], ports=asset.expected_ports)
    scan = _scan(asset, "full_tcp", argv, authorization_id, transport, start)
    scan.status, scan.error, scan.finished_at = "failed", "timeout", start + timedelta(hours=3)
    session.add(scan)
    session.flush()
    return made + 1


def _scan(asset: Asset, profile: str, argv: list[str], authorization_id: int, actor: Actor, start: datetime) -> Scan:
    return Scan(
        asset_id=asset.id, profile=profile, zone="local", status="running", authorization_id=authorization_id,
        targets=list(asset.network_targets), argv=argv, requested_by=actor.username,
        created_at=start - timedelta(minutes=1), started_at=start,
    )  # fmt: skip


def _sunday_night(moment: datetime, tz: str) -> datetime:
    """02:00 in the city's time of the Sunday on or before `moment`: inside the fragile assets' window."""
    day: date = moment.astimezone(ZoneInfo(tz)).date()
    sunday = day - timedelta(days=(day.weekday() + 1) % 7)
    return datetime.combine(sunday, time(2), tzinfo=ZoneInfo(tz)).astimezone(UTC)


def _finding(session: Session, asset: Asset, kind: str, port: int) -> ScanFinding | None:
    return session.exec(
        select(ScanFinding).where(ScanFinding.asset_id == asset.id, ScanFinding.kind == kind, ScanFinding.port == port)
    ).first()


def _triage(session: Session, assets: dict[str, Asset], officer: Actor, transport: Actor, config) -> None:
    fp = _finding(session, assets["TRF-BUS-01"], "unexpected_service", 8443)
    if fp is not None:
        findings.triage(session, transport, fp.id, Triage(action="false_positive", note=NOTE_FALSE, version=fp.version))
    telnet = _finding(session, assets["TRF-CAM-01"], "unexpected_service", 23)
    if telnet is not None:
        findings.triage(
            session, transport, telnet.id, Triage(action="acknowledge", note=NOTE_ACK, version=telnet.version)
        )
    database = _finding(session, assets["WTR-BILL-01"], "unexpected_service", 3306)
    if database is not None:
        method = assessment_rule.method(session, config)
        # The risk's title is the finding in words of the moment's language: the city's.
        with force_locale("zh"):
            findings.promote(session, officer, database.id, FindingPromotion(treatment="reduce"), method)
