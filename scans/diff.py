"""What changed between two nmap runs of one asset, and what this run saw that the asset does not expect.

Pure: observations in (see :mod:`scans.xmlparse`), changes out. A port is keyed by
(host, port, protocol); only the state ``open`` counts as open (``open|filtered`` does not).

* ``unexpected_service``: a port open in this run and not among the asset's expected ports.
  Reported on every run where the port is open (the state of this run); the caller matches
  it against the findings already open.
* ``host_down``: a host this run lists as down. nmap lists down hosts only in some modes
  (with ``-v``); a host missing from this run is not taken for down, since the run may not
  have covered it. Reported on every run where the host is down, like unexpected services.
* ``new_open_port`` (not on a first run): open now, not open in the previous run.
* ``port_closed`` (not on a first run): open in the previous run, not open now, on a host this
  run found up. A port absent from this run counts as not open (nmap folds closed and filtered
  ports into ``extraports``): the two runs must have scanned the same ports.
* ``service_changed`` (not on a first run): open in both runs, with another service name,
  product or version.

A host whose state is ``unknown`` in this run (its ``--host-timeout`` passed) gives neither
``host_down`` nor ``port_closed``: its ports were not seen.

Severity: ``high`` for a host down that was up in the previous run, an unexpected risky service
(:data:`RISKY_PORTS`, :data:`RISKY_SERVICES`) and an expected port closed; ``low`` for an
unexpected port closed; ``medium`` for everything else (other unexpected services, new open
ports, changed services, a host down that was not seen up before).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from assets.targets import parse_port
from scans.xmlparse import Observation, address_key
from secgov.codes import N_

__all__ = ["KINDS", "RISKY_PORTS", "RISKY_SERVICES", "SEVERITIES", "Change", "compare"]

KINDS: dict[str, str] = {
    "new_open_port": N_("New open port"),
    "port_closed": N_("Port closed"),
    "service_changed": N_("Service changed"),
    "host_down": N_("Host down"),
    "unexpected_service": N_("Unexpected service"),
}
SEVERITIES: dict[str, str] = {"low": N_("Low"), "medium": N_("Medium"), "high": N_("High")}

# Services that must not be reachable unless the asset expects them: clear-text logins, file
# sharing, remote desktops, industrial control protocols and databases. By port, whatever the
# protocol, and by the service name nmap's version detection gives (the same service elsewhere).
RISKY_PORTS = frozenset({21, 23, 102, 445, 502, 3306, 3389, 5432, 5900, 5901, 6379, 20000, 27017, 47808})
RISKY_SERVICES = frozenset(
    {
        "ftp",
        "telnet",
        "microsoft-ds",
        "netbios-ssn",
        "ms-wbt-server",
        "vnc",
        "modbus",
        "iso-tsap",
        "dnp",
        "bacnet",
        "mysql",
        "postgresql",
        "redis",
        "mongodb",
    }
)
_KIND_ORDER = {kind: index for index, kind in enumerate(("host_down", *sorted(set(KINDS) - {"host_down"})))}


@dataclass(frozen=True)
class Change:
    """One difference or one unexpected service; `detail` holds JSON values only."""

    kind: str
    host: str
    port: int | None
    protocol: str
    severity: str
    detail: dict


def _is_risky(row: Observation) -> bool:
    return row.port in RISKY_PORTS or row.service in RISKY_SERVICES


def _service(row: Observation | None) -> dict | None:
    if row is None:
        return None
    return {"state": row.state, "service": row.service, "product": row.product, "version": row.version, "cpe": row.cpe}


def _index(rows: Iterable[Observation]) -> tuple[dict[str, str], dict[tuple[str, int, str], Observation]]:
    """Host states by host, and port rows by key; a key seen twice keeps its open row."""
    hosts: dict[str, str] = {}
    ports: dict[tuple[str, int, str], Observation] = {}
    for row in rows:
        if hosts.get(row.host) != "up":
            hosts[row.host] = row.host_state
        if row.port is None:
            continue
        key = (row.host, row.port, row.protocol)
        if key not in ports or (row.state == "open" and ports[key].state != "open"):
            ports[key] = row
    return hosts, ports


def _sort_key(change: Change) -> tuple:
    return (
        address_key(change.host),
        change.port is not None,
        change.protocol,
        change.port or 0,
        _KIND_ORDER[change.kind],
    )


def compare(
    previous: Sequence[Observation] | None, current: Sequence[Observation], expected_ports: Sequence[str]
) -> list[Change]:
    """The changes from `previous` (None: this is the first run) to `current`, sorted by host, port and kind.

    `expected_ports` are "443/tcp" forms (:func:`assets.targets.parse_port`; a bad one raises its
    `TargetError`, a `ValueError`) and hold for every host of the asset.
    """
    expected = {parse_port(port) for port in expected_ports}
    before_hosts, before = _index(previous or ())
    now_hosts, now = _index(current)
    names = {row.host: row.hostname for row in current if row.hostname}
    changes: list[Change] = []

    for host, state in now_hosts.items():
        if state == "down":
            was = before_hosts.get(host)
            detail = {"before": was, "after": "down", "hostname": names.get(host, "")}
            changes.append(Change("host_down", host, None, "", "high" if was == "up" else "medium", detail))

    for key, row in now.items():
        if row.state != "open":
            continue
        host, port, protocol = key
        risky = _is_risky(row)
        if f"{port}/{protocol}" not in expected:
            detail = {"after": _service(row), "risky": risky, "hostname": row.hostname}
            changes.append(Change("unexpected_service", host, port, protocol, "high" if risky else "medium", detail))
        if previous is None:
            continue
        old = before.get(key)
        if old is None or old.state != "open":
            detail = {"before": _service(old), "after": _service(row), "risky": risky, "hostname": row.hostname}
            changes.append(Change("new_open_port", host, port, protocol, "medium", detail))
        elif (old.service, old.product, old.version) != (row.service, row.product, row.version):
            detail = {"before": _service(old), "after": _service(row), "hostname": row.hostname}
            changes.append(Change("service_changed", host, port, protocol, "medium", detail))

    if previous is not None:
        for key, old in before.items():
            host, port, protocol = key
            if old.state != "open" or now_hosts.get(host) != "up":
                continue  # a host down, unknown or not scanned this time: its ports were not seen
            row = now.get(key)
            if row is not None and row.state == "open":
                continue
            is_expected = f"{port}/{protocol}" in expected
            detail = {
                "before": _service(old),
                "after": _service(row),
                "expected": is_expected,
                "hostname": names.get(host, old.hostname),
            }
            changes.append(Change("port_closed", host, port, protocol, "high" if is_expected else "low", detail))

    return sorted(changes, key=_sort_key)
