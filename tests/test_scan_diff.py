"""Comparing nmap runs: every kind of change and severity, a first run against a later one, order."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from scans.diff import KINDS, SEVERITIES, Change, compare
from scans.xmlparse import Observation, parse

pytestmark = pytest.mark.nodb

DATA = Path(__file__).parent / "data" / "nmap"


def row(host="127.0.0.5", port=443, state="open", service="https", product="nginx", version="1.24.0", **kw):
    """One observation; port None is the row of a host without ports."""
    values = {
        "host": host,
        "hostname": kw.pop("hostname", ""),
        "host_state": kw.pop("host_state", "up"),
        "port": port,
        "protocol": kw.pop("protocol", "tcp" if port is not None else ""),
        "state": state if port is not None else "",
        "service": service if port is not None else "",
        "product": product if port is not None else "",
        "version": version if port is not None else "",
        "cpe": kw.pop("cpe", ""),
    }
    assert not kw
    return Observation(**values)


def kinds(changes: list[Change]) -> list[tuple]:
    return [(c.kind, c.host, c.port, c.protocol, c.severity) for c in changes]


def test_labels():
    assert set(KINDS) == {"new_open_port", "port_closed", "service_changed", "host_down", "unexpected_service"}
    assert set(SEVERITIES) == {"low", "medium", "high"}


# --- a first run ----------------------------------------------------------------------------------


def test_first_run_reports_only_unexpected_services_and_down_hosts():
    current = [
        row(port=443),  # expected
        row(port=8080, service="http", product="Apache Tomcat", version="9.0.58"),  # unexpected, ordinary
        row(port=23, service="telnet", product="BusyBox telnetd", version=""),  # unexpected, risky
        row(port=80, state="closed"),
        row(port=81, state="filtered"),
        row(port=82, state="open|filtered"),
        row("127.0.0.6", None, host_state="down"),
    ]
    assert kinds(compare(None, current, ["443/tcp", "80/tcp"])) == [
        ("unexpected_service", "127.0.0.5", 23, "tcp", "high"),
        ("unexpected_service", "127.0.0.5", 8080, "tcp", "medium"),
        ("host_down", "127.0.0.6", None, "", "medium"),
    ]


def test_first_run_with_only_expected_ports_is_quiet():
    assert compare(None, [row(port=443), row(port=22, state="closed")], ["443/tcp"]) == []


@pytest.mark.parametrize(
    ("port", "protocol", "service"),
    [
        (21, "tcp", "ftp"),
        (23, "tcp", "telnet"),
        (445, "tcp", "microsoft-ds"),
        (3389, "tcp", "ms-wbt-server"),
        (5900, "tcp", "vnc"),
        (5901, "tcp", "vnc"),
        (502, "tcp", "modbus"),
        (102, "tcp", "iso-tsap"),
        (20000, "tcp", "dnp"),
        (47808, "udp", "bacnet"),
        (3306, "tcp", "mysql"),
        (5432, "tcp", "postgresql"),
        (6379, "tcp", "redis"),
        (27017, "tcp", "mongodb"),
        (2323, "tcp", "telnet"),  # the service nmap recognised, elsewhere than its port
        (5433, "tcp", "postgresql"),
        (3306, "tcp", ""),  # the port, whatever nmap made of it
    ],
)
def test_risky_unexpected_services_are_high(port, protocol, service):
    [change] = compare(None, [row(port=port, protocol=protocol, service=service)], [])
    assert (change.kind, change.severity, change.detail["risky"]) == ("unexpected_service", "high", True)


def test_a_risky_service_the_asset_expects_is_not_reported():
    assert compare(None, [row(port=502, service="modbus")], ["502/tcp"]) == []
    # the expectation is per protocol: 502/udp does not cover 502/tcp
    assert kinds(compare(None, [row(port=502, service="modbus")], ["502/udp"])) == [
        ("unexpected_service", "127.0.0.5", 502, "tcp", "high")
    ]


# --- a later run ----------------------------------------------------------------------------------


def test_every_kind_on_a_later_run():
    previous = [
        row(port=443),
        row(port=22, service="ssh", product="OpenSSH", version="8.9p1"),
        row(port=8443, service="http", product="Jetty", version="9.4"),  # unexpected, will close
        row(port=80, state="closed"),
        row("127.0.0.6", 443),
        row("127.0.0.7", 443),  # not scanned this time
    ]
    current = [
        row(port=443, product="nginx", version="1.25.3"),  # version changed
        row(port=80, service="http"),  # closed before, open now: new and unexpected
        row(port=3306, service="mysql", product="MySQL", version="8.0"),  # absent before: new, risky
        # 22 absent now (folded into extraports): closed
        row("127.0.0.6", None, host_state="down"),
    ]
    changes = compare(previous, current, ["443/tcp", "22/tcp"])
    assert kinds(changes) == [
        ("port_closed", "127.0.0.5", 22, "tcp", "high"),
        ("new_open_port", "127.0.0.5", 80, "tcp", "medium"),
        ("unexpected_service", "127.0.0.5", 80, "tcp", "medium"),
        ("service_changed", "127.0.0.5", 443, "tcp", "medium"),
        ("new_open_port", "127.0.0.5", 3306, "tcp", "medium"),
        ("unexpected_service", "127.0.0.5", 3306, "tcp", "high"),
        ("port_closed", "127.0.0.5", 8443, "tcp", "low"),
        ("host_down", "127.0.0.6", None, "", "high"),
    ]
    by_kind = {(c.kind, c.port): c.detail for c in changes}
    assert by_kind[("service_changed", 443)]["before"]["version"] == "1.24.0"
    assert by_kind[("service_changed", 443)]["after"]["version"] == "1.25.3"
    assert by_kind[("new_open_port", 80)]["before"]["state"] == "closed"
    assert by_kind[("new_open_port", 3306)]["before"] is None
    assert by_kind[("port_closed", 22)] | {} == {
        "before": {"state": "open", "service": "ssh", "product": "OpenSSH", "version": "8.9p1", "cpe": ""},
        "after": None,
        "expected": True,
        "hostname": "",
    }
    assert by_kind[("host_down", None)] == {"before": "up", "after": "down", "hostname": ""}
    json.dumps([c.detail for c in changes])  # JSON values only


@pytest.mark.parametrize(
    "change",
    [
        {"service": "ssh"},
        {"product": "Apache httpd"},
        {"version": "1.25.0"},
        {"service": "", "product": "", "version": ""},
    ],
)
def test_service_changed_on_name_product_or_version(change):
    before = row()
    after = row(**{"service": before.service, "product": before.product, "version": before.version, **change})
    assert kinds(compare([before], [after], ["443/tcp"])) == [("service_changed", "127.0.0.5", 443, "tcp", "medium")]


def test_same_open_port_same_service_is_no_change_but_unexpected_stays_reported():
    before = [row(port=443), row(port=8080, service="http")]
    after = [row(port=443, cpe="cpe:/a:x"), row(port=8080, service="http", hostname="web.city.example")]
    assert kinds(compare(before, after, ["443/tcp"])) == [("unexpected_service", "127.0.0.5", 8080, "tcp", "medium")]


@pytest.mark.parametrize("state", ["closed", "filtered", "open|filtered", "unfiltered"])
def test_only_open_counts_as_open(state):
    assert kinds(compare([row()], [row(state=state)], ["443/tcp"])) == [
        ("port_closed", "127.0.0.5", 443, "tcp", "high")
    ]
    assert kinds(compare([row(state=state)], [row()], ["443/tcp"])) == [
        ("new_open_port", "127.0.0.5", 443, "tcp", "medium")
    ]


def test_a_host_not_in_this_run_is_not_down_and_its_ports_not_closed():
    assert compare([row(), row("127.0.0.9", 22)], [row()], ["443/tcp", "22/tcp"]) == []


def test_a_down_host_gives_host_down_not_closed_ports():
    previous = [row(port=443), row(port=22, service="ssh")]
    assert kinds(compare(previous, [row(port=None, host_state="down")], ["443/tcp", "22/tcp"])) == [
        ("host_down", "127.0.0.5", None, "", "high")
    ]


def test_a_host_down_again_or_never_seen_up_is_medium():
    down = row(port=None, host_state="down")
    assert kinds(compare([down], [down], [])) == [("host_down", "127.0.0.5", None, "", "medium")]
    assert kinds(compare([row("127.0.0.9")], [down], [])) == [("host_down", "127.0.0.5", None, "", "medium")]


def test_a_host_whose_timeout_passed_gives_nothing():
    unknown = row(port=None, host_state="unknown")
    assert compare([row(), row(port=22)], [unknown], ["443/tcp", "22/tcp"]) == []


def test_a_host_up_without_listed_ports_closes_what_was_open():
    assert kinds(compare([row()], [row(port=None)], ["443/tcp"])) == [("port_closed", "127.0.0.5", 443, "tcp", "high")]


def test_a_new_host_brings_new_open_ports():
    assert kinds(compare([row()], [row(), row("127.0.0.8", 443)], ["443/tcp"])) == [
        ("new_open_port", "127.0.0.8", 443, "tcp", "medium")
    ]


def test_an_empty_previous_run_is_a_later_run():
    assert kinds(compare([], [row()], ["443/tcp"])) == [("new_open_port", "127.0.0.5", 443, "tcp", "medium")]


def test_protocols_are_apart():
    before = [row(port=53, protocol="udp", service="domain")]
    after = [row(port=53, protocol="tcp", service="domain")]
    assert kinds(compare(before, after, ["53/tcp", "53/udp"])) == [
        ("new_open_port", "127.0.0.5", 53, "tcp", "medium"),
        ("port_closed", "127.0.0.5", 53, "udp", "high"),
    ]


def test_expected_ports_in_other_spellings_and_bad_ones():
    assert compare(None, [row(port=53, protocol="udp", service="domain")], ["53/UDP"]) == []
    with pytest.raises(ValueError):
        compare(None, [row()], ["443/tcp; rm -rf /"])


# --- recorded runs and order ----------------------------------------------------------------------


def test_recorded_runs_of_nmap():
    first = parse((DATA / "two_hosts_run1.xml").read_bytes()).observations
    second = parse((DATA / "two_hosts_run2.xml").read_bytes()).observations
    assert kinds(compare(None, first, ["18453/tcp", "18455/tcp"])) == []
    changes = compare(first, second, ["18453/tcp", "18455/tcp"])
    assert kinds(changes) == [
        ("service_changed", "127.0.0.53", 18453, "tcp", "medium"),
        ("new_open_port", "127.0.0.53", 18454, "tcp", "medium"),
        ("unexpected_service", "127.0.0.53", 18454, "tcp", "medium"),
    ]
    assert changes[0].detail["before"]["service"] == "http" and changes[0].detail["after"]["service"] == "ssh"
    # back again: the http server returns, 18454 closes (unexpected: low)
    assert kinds(compare(second, first, ["18453/tcp", "18455/tcp"])) == [
        ("service_changed", "127.0.0.53", 18453, "tcp", "medium"),
        ("port_closed", "127.0.0.53", 18454, "tcp", "low"),
    ]


def test_order_is_deterministic_and_numeric():
    previous = [row(f"127.0.0.{n}", p, service=s) for n in (2, 10, 100) for p, s in ((22, "ssh"), (443, "https"))]
    current = [row(f"127.0.0.{n}", p, service="x") for n in (100, 10, 9) for p in (8080, 443, 23)]
    current.append(row("127.0.0.2", None, host_state="down"))
    expected = compare(previous, current, ["443/tcp"])
    for seed in range(20):
        rng = random.Random(seed)
        shuffled_previous, shuffled_current = previous[:], current[:]
        rng.shuffle(shuffled_previous)
        rng.shuffle(shuffled_current)
        assert compare(shuffled_previous, shuffled_current, ["443/tcp"]) == expected
    hosts = [c.host for c in expected]
    assert hosts == sorted(hosts, key=lambda h: int(h.rsplit(".", 1)[1]))
    assert expected[0] == Change(
        "host_down", "127.0.0.2", None, "", "high", {"before": "up", "after": "down", "hostname": ""}
    )
