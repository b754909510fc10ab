"""Synthetic nmap XML output for the scans domain, and the time to read it against the goal of issue 13.

`synthetic_xml(hosts, ports_per_host, seed)` writes what nmap 7.93 writes for a connect scan with
version detection (`--unprivileged -sT -sV -n … -oX -`): the prologue (XML declaration, the bare
DOCTYPE, the style sheet, the comment), `nmaprun` with `scaninfo`, `verbose`, `debugging`, a
`hosthint` before each group of hosts, then per host `status`, `address`, `hostnames`, `ports`
(`extraports` with `extrareasons`, each `port` with `state`, `service` and its `cpe`), `times`;
last `runstats` with `finished` and `hosts`. Every host is up and lists exactly ports_per_host
ports (most open, some closed or filtered). Addresses are loopback only (127.1.0.1 on), so that
the file could never lead a scan anywhere else. The same arguments give the same bytes.

Run as a script, it measures `scans.xmlparse.parse` on such a file (median of --repeat runs after
one untimed run) and writes bench/results/scan_xml.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import quoteattr

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
GOAL_SECONDS = 3.0  # a 1,000-host file (5 ports per host) is read in well under this
START = 1_767_225_600  # 2026-01-01 00:00:00 UTC

# (port, service, product, version, extrainfo, cpe): what -sV reports on a smart city's systems.
SERVICES = (
    (21, "ftp", "vsftpd", "3.0.3", "", "cpe:/a:vsftpd:vsftpd:3.0.3"),
    (22, "ssh", "OpenSSH", "8.9p1 Ubuntu 3ubuntu0.6", "Ubuntu Linux; protocol 2.0", "cpe:/a:openbsd:openssh:8.9p1"),
    (23, "telnet", "BusyBox telnetd", "", "", "cpe:/a:busybox:busybox"),
    (25, "smtp", "Postfix smtpd", "", "", "cpe:/a:postfix:postfix"),
    (53, "domain", "ISC BIND", "9.18.18", "Ubuntu Linux", "cpe:/a:isc:bind:9.18.18"),
    (80, "http", "nginx", "1.24.0", "", "cpe:/a:igor_sysoev:nginx:1.24.0"),
    (102, "iso-tsap", "Siemens S7 PLC", "", "", "cpe:/h:siemens:s7"),
    (110, "pop3", "Dovecot pop3d", "", "", "cpe:/a:dovecot:dovecot"),
    (143, "imap", "Dovecot imapd", "", "", "cpe:/a:dovecot:dovecot"),
    (443, "https", "nginx", "1.24.0", "", "cpe:/a:igor_sysoev:nginx:1.24.0"),
    (445, "microsoft-ds", "Samba smbd", "4.6.2", "", "cpe:/a:samba:samba"),
    (502, "modbus", "", "", "", ""),
    (554, "rtsp", "Hikvision IP camera rtspd", "", "", "cpe:/h:hikvision:ip_camera"),
    (1883, "mqtt", "Mosquitto", "2.0.18", "", "cpe:/a:eclipse:mosquitto:2.0.18"),
    (2404, "iec-104", "", "", "", ""),
    (3306, "mysql", "MySQL", "8.0.36-0ubuntu0.22.04.1", "", "cpe:/a:mysql:mysql:8.0.36-0ubuntu0.22.04.1"),
    (3389, "ms-wbt-server", "Microsoft Terminal Services", "", "", "cpe:/o:microsoft:windows"),
    (5432, "postgresql", "PostgreSQL DB", "9.6.0 or later", "", "cpe:/a:postgresql:postgresql"),
    (5900, "vnc", "VNC", "", "protocol 3.8", ""),
    (6379, "redis", "Redis key-value store", "7.0.15", "", "cpe:/a:redislabs:redis:7.0.15"),
    (8080, "http", "Apache Tomcat", "9.0.58", "", "cpe:/a:apache:tomcat:9.0.58"),
    (8443, "http", "Jetty", "9.4.51.v20230217", "", "cpe:/a:eclipse:jetty:9.4.51.v20230217"),
    (
        9200,
        "http",
        "Elasticsearch REST API",
        "7.17.9",
        "name: node-1; cluster: city",
        "cpe:/a:elastic:elasticsearch:7.17.9",
    ),
    (20000, "dnp", "", "", "", ""),
    (27017, "mongodb", "MongoDB", "6.0.13", "", "cpe:/a:mongodb:mongodb:6.0.13"),
)
PORTS_SCANNED = 1000  # the top 1,000 ports: the extraports count is what the listed ones leave
GROUP = 64  # nmap's connect-scan host group: one hosthint line per group


def loopback(n: int) -> str:
    """The n-th loopback address (n ≥ 0) from 127.1.0.1 on, never .0 or .255 in the last byte."""
    block, host = divmod(n, 254)
    return f"127.{block // 256 + 1}.{block % 256}.{host + 1}"


def _timestr(epoch: int) -> str:
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    return f"{moment:%a %b} {moment.day:2d} {moment:%H:%M:%S %Y}"  # ctime(): "Sun Dec  6 22:15:54 2026"


def _ports(rng: random.Random, count: int) -> list[tuple[int, str, tuple]]:
    chosen = rng.sample(SERVICES, min(count, len(SERVICES)))
    numbers = {service[0] for service in chosen}
    ports = [(service[0], rng.choices(("open", "closed", "filtered"), (8, 1, 1))[0], service) for service in chosen]
    while len(ports) < count:  # more ports than the catalogue: unidentified high ports
        number = rng.randint(10_000, 60_000)
        if number not in numbers:
            numbers.add(number)
            ports.append((number, "open", (number, "unknown", "", "", "", "")))
    return sorted(ports)


def _port_xml(number: int, state: str, service: tuple) -> str:
    reason = {"open": "syn-ack", "closed": "conn-refused", "filtered": "no-response"}[state]
    head = f'<port protocol="tcp" portid="{number}"><state state="{state}" reason="{reason}" reason_ttl="0"/>'
    if state != "open":
        return head + "</port>"
    _number, name, product, version, extrainfo, cpe = service
    attributes = f"name={quoteattr(name)}"
    for key, value in (("product", product), ("version", version), ("extrainfo", extrainfo)):
        if value:
            attributes += f" {key}={quoteattr(value)}"
    method = 'method="probed" conf="10"' if product else 'method="table" conf="3"'
    body = f"<cpe>{cpe}</cpe>" if cpe else ""
    if body:
        return f"{head}<service {attributes} {method}>{body}</service></port>"
    return f"{head}<service {attributes} {method}/></port>"


def synthetic_xml(hosts: int, ports_per_host: int = 5, seed: int = 0) -> bytes:
    """nmap 7.93's XML output of a connect and version scan of `hosts` loopback hosts."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not security
    addresses = [loopback(n) for n in range(hosts)]
    args = f"nmap --unprivileged -sT -sV -n -T4 --max-retries 2 --host-timeout 900s -oX - {' '.join(addresses)}"
    quoted = quoteattr(args).replace("--", "-&#45;")  # nmap escapes "--" inside attributes
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        "<!DOCTYPE nmaprun>",
        '<?xml-stylesheet href="file:///usr/bin/../share/nmap/nmap.xsl" type="text/xsl"?>',
        f"<!-- Nmap 7.93 scan initiated {_timestr(START)} as: {args.replace('--', '-&#45;')} -->",
        f'<nmaprun scanner="nmap" args={quoted} start="{START}" startstr="{_timestr(START)}"'
        ' version="7.93" xmloutputversion="1.05">',
        f'<scaninfo type="connect" protocol="tcp" numservices="{PORTS_SCANNED}" services="1,3-4,6-7,9,13,17,19-26"/>',
        '<verbose level="0"/>',
        '<debugging level="0"/>',
    ]
    clock = START
    for index, address in enumerate(addresses):
        if index % GROUP == 0:
            lines += [
                '<hosthint><status state="up" reason="unknown-response" reason_ttl="0"/>',
                f'<address addr="{address}" addrtype="ipv4"/>',
                "<hostnames>",
                "</hostnames>",
                "</hosthint>",
            ]
        started, clock = clock, clock + rng.randint(0, 2)
        lines.append(
            f'<host starttime="{started}" endtime="{clock}"><status state="up" reason="conn-refused" reason_ttl="0"/>'
        )
        lines.append(f'<address addr="{address}" addrtype="ipv4"/>')
        lines.append("<hostnames>")
        if rng.random() < 0.2:
            lines.append(f'<hostname name="host-{index + 1}.city.example" type="user"/>')
        lines.append("</hostnames>")
        ports = _ports(rng, ports_per_host)
        closed = max(PORTS_SCANNED - len(ports), 0)
        lines.append(f'<ports><extraports state="closed" count="{closed}">')
        lines.append(f'<extrareasons reason="conn-refused" count="{closed}" proto="tcp" ports="1,3-4,6-7,9,13"/>')
        lines.append("</extraports>")
        lines += [_port_xml(*port) for port in ports]
        lines.append("</ports>")
        lines.append(f'<times srtt="{rng.randint(40, 400)}" rttvar="{rng.randint(40, 4000)}" to="100000"/>')
        lines.append("</host>")
    elapsed = f"{clock - START + rng.random():.2f}"
    summary = f"Nmap done at {_timestr(clock)}; {hosts} IP address{'es' if hosts != 1 else ''} ({hosts} host{'s' if hosts != 1 else ''} up) scanned in {elapsed} seconds"
    lines.append(
        f'<runstats><finished time="{clock}" timestr="{_timestr(clock)}" summary="{summary}" elapsed="{elapsed}"'
        f' exit="success"/><hosts up="{hosts}" down="0" total="{hosts}"/>'
    )
    lines += ["</runstats>", "</nmaprun>", ""]
    return "\n".join(lines).encode("utf-8")


def measure(hosts: int, ports_per_host: int, repeat: int) -> dict:
    """Seconds `scans.xmlparse.parse` takes on a synthetic file: one untimed run, then `repeat` timed."""
    sys.path.insert(0, str(ROOT))
    from scans.xmlparse import parse

    data = synthetic_xml(hosts, ports_per_host)
    parsed = parse(data)
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        parse(data)
        seconds.append(time.perf_counter() - started)
    median = statistics.median(seconds)
    return {
        "hosts": hosts,
        "ports_per_host": ports_per_host,
        "bytes": len(data),
        "observations": len(parsed.observations),
        "seconds_median": round(median, 4),
        "seconds_best": round(min(seconds), 4),
        "goal_seconds": GOAL_SECONDS,
        "pass": median < GOAL_SECONDS,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--hosts", type=int, default=1000, help="hosts in the synthetic file (1000)")
    add("--ports", type=int, default=5, help="listed ports per host (5)")
    add("--repeat", type=int, default=5, help="timed runs (5)")
    add("--write", type=Path, metavar="FILE", help="only write the synthetic XML to FILE")
    add("--output", type=Path, default=RESULTS / "scan_xml.json", help="the JSON report")
    args = parser.parse_args(argv)
    if args.write:
        args.write.write_bytes(synthetic_xml(args.hosts, args.ports))
        return 0
    results = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        **measure(args.hosts, args.ports, args.repeat),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"scans.xmlparse.parse: {results['hosts']} hosts, {results['observations']} rows, {results['bytes']:,} bytes:"
        f" median {results['seconds_median']:.3f} s (best {results['seconds_best']:.3f} s), goal < {GOAL_SECONDS} s"
        f" {'met' if results['pass'] else 'MISSED'}"
    )
    print(f"JSON report: {args.output}")
    return 0 if results["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
