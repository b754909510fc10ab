"""Reading nmap XML: output recorded from nmap 7.93 against servers on 127.0.0.x, hostile documents,
and the benchmark's synthetic 1,000-host file."""

from __future__ import annotations

import dataclasses
import random
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.scan_xml import synthetic_xml
from scans import xmlparse
from scans.xmlparse import MAX_XML_BYTES, Observation, XmlError, parse

pytestmark = pytest.mark.nodb

DATA = Path(__file__).parent / "data" / "nmap"
PROPERTY = settings(derandomize=True, database=None, deadline=None, max_examples=300)


def fixture(name: str) -> bytes:
    return (DATA / name).read_bytes()


def refused(data: bytes, **kwargs) -> str:
    with pytest.raises(XmlError) as caught:
        parse(data, **kwargs)
    assert str(caught.value)  # an English sentence
    return caught.value.reason


def document(hosts: str = "", *, runstats: bool = True, root: str = "nmaprun", prologue: str = "") -> bytes:
    """A small nmap document around `hosts`, shaped as nmap 7.93 writes it."""
    end = (
        '<runstats><finished time="1796595361" timestr="x" elapsed="6.26" exit="success"/>'
        '<hosts up="1" down="0" total="1"/>\n</runstats>\n'
        if runstats
        else ""
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"{prologue or '<!DOCTYPE nmaprun>'}\n"
        f'<{root} scanner="nmap" args="nmap -sT" start="1796595354" version="7.93" xmloutputversion="1.05">\n'
        '<verbose level="0"/>\n<debugging level="0"/>\n'
        f"{hosts}{end}</{root}>\n"
    ).encode()


def host(address: str = "127.0.0.53", ports: str = "", *, state: str = "up", extra: str = "", attrs: str = "") -> str:
    return (
        f'<host {attrs}><status state="{state}" reason="conn-refused" reason_ttl="0"/>\n'
        f'<address addr="{address}" addrtype="ipv4"/>\n{extra}<hostnames>\n</hostnames>\n'
        + (f"<ports>{ports}</ports>\n" if ports else "")
        + "</host>\n"
    )


def port(number: int = 443, state: str = "open", service: str = "") -> str:
    return f'<port protocol="tcp" portid="{number}"><state state="{state}" reason="syn-ack" reason_ttl="0"/>{service}</port>\n'


# --- output recorded from nmap 7.93 ---------------------------------------------------------------


def test_one_open_port_with_version_detection():
    parsed = parse(fixture("http_open.xml"))
    assert parsed.observations == [
        Observation(
            host="127.0.0.53",
            hostname="",
            host_state="up",
            port=18453,
            protocol="tcp",
            state="open",
            service="http",
            product="SimpleHTTPServer",
            version="0.6",
            cpe="cpe:/a:python:simplehttpserver:0.6",
        )
    ]
    assert parsed.nmap_version == "7.93"
    assert parsed.args == "nmap --unprivileged -sT -sV -n -p 18453 -oX - 127.0.0.53"
    assert parsed.started_at == datetime(2026, 12, 6, 22, 15, 54, tzinfo=UTC)
    assert parsed.finished_at == datetime(2026, 12, 6, 22, 16, 1, tzinfo=UTC)
    assert parsed.elapsed == 6.26
    assert (parsed.hosts_up, parsed.hosts_total) == (1, 1)


def test_two_hosts_sorted_with_closed_ports_and_the_first_cpe():
    parsed = parse(fixture("two_hosts_run2.xml"))
    rows = [(o.host, o.port, o.state, o.service) for o in parsed.observations]
    assert rows == [
        ("127.0.0.53", 18453, "open", "ssh"),
        ("127.0.0.53", 18454, "open", "http"),
        ("127.0.0.53", 18455, "closed", ""),
        ("127.0.0.54", 18453, "closed", ""),
        ("127.0.0.54", 18454, "closed", ""),
        ("127.0.0.54", 18455, "open", "http"),
    ]
    ssh = parsed.observations[0]
    # the version alone (not nmap's extrainfo), and the first of the two cpe elements
    assert (ssh.product, ssh.version, ssh.cpe) == ("OpenSSH", "8.9p1 Ubuntu 3ubuntu0.6", "cpe:/a:openbsd:openssh:8.9p1")
    assert (parsed.hosts_up, parsed.hosts_total) == (2, 2)


def test_the_first_hostname_and_no_hosthint_rows():
    parsed = parse(fixture("localhost_hostname.xml"))
    assert [(o.host, o.hostname, o.port) for o in parsed.observations] == [("127.0.0.1", "localhost", 18456)]


def test_extraports_are_not_rows():
    parsed = parse(fixture("extraports.xml"))
    assert [(o.port, o.state, o.service) for o in parsed.observations] == [(18453, "open", ""), (18454, "open", "")]


def test_a_host_whose_timeout_passed_is_unknown_without_ports():
    parsed = parse(fixture("host_timeout.xml"))
    assert [(o.host, o.host_state, o.port, o.protocol, o.state) for o in parsed.observations] == [
        ("127.0.0.53", "unknown", None, "", "")
    ]


def test_observations_are_frozen():
    row = parse(fixture("http_open.xml")).observations[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.state = "closed"


# --- normal forms ---------------------------------------------------------------------------------


def test_a_host_without_ports_and_a_down_host_give_one_row_each():
    parsed = parse(document(host("127.0.0.9") + host("127.0.0.10", state="down")))
    assert [(o.host, o.host_state, o.port, o.protocol) for o in parsed.observations] == [
        ("127.0.0.9", "up", None, ""),
        ("127.0.0.10", "down", None, ""),
    ]


def test_ipv4_preferred_then_ipv6_normal_form_and_mac_ignored():
    both = (
        '<host><status state="up" reason="x" reason_ttl="0"/>'
        '<address addr="00:11:22:33:44:55" addrtype="mac"/>'
        '<address addr="0:0:0:0:0:0:0:1" addrtype="ipv6"/><address addr="127.0.0.7" addrtype="ipv4"/></host>\n'
    )
    six = (
        '<host><status state="up" reason="x" reason_ttl="0"/>'
        '<address addr="0:0:0:0:0:0:0:1" addrtype="ipv6"/>'
        '<address addr="00:11:22:33:44:55" addrtype="mac"/></host>\n'
    )
    assert [o.host for o in parse(document(both + six)).observations] == ["127.0.0.7", "::1"]


def test_hosts_sort_by_number_not_text():
    parsed = parse(document(host("127.0.0.10") + host("127.0.0.9") + host("127.0.0.100")))
    assert [o.host for o in parsed.observations] == ["127.0.0.9", "127.0.0.10", "127.0.0.100"]


def test_fields_cut_to_their_columns_and_cleaned():
    service = (
        f'<service name="{"s" * 100}" product="{"p" * 1000}" version="{"v" * 300}" extrainfo="e" method="probed" conf="10">'
        f"<cpe>{'c' * 400}</cpe><cpe>cpe:/second</cpe></service>"
    )
    name = "h" * 300
    parsed = parse(
        document(
            host(ports=port(service=service), extra=f'<hostnames><hostname name="{name}" type="user"/></hostnames>')
        )
    )
    row = parsed.observations[0]
    sizes = xmlparse.FIELD_SIZES
    assert (len(row.service), len(row.product), len(row.version), len(row.cpe), len(row.hostname)) == (
        sizes["service"],
        sizes["product"],
        sizes["version"],
        sizes["cpe"],
        sizes["hostname"],
    )
    tricky = '<service name="http" product="Evil\u202eexe.txt &#x85; \t\n  box" method="probed" conf="10"/>'
    assert parse(document(host(ports=port(service=tricky)))).observations[0].product == "Evilexe.txt box"


def test_the_same_address_twice_gives_one_host_up_with_its_open_port():
    first = host("127.0.0.5", port(80, "closed"), state="up")
    second = host("127.0.0.5", port(80, "open") + port(22, "open"), extra="")
    parsed = parse(document(first + second + host("127.0.0.6", state="down") + host("127.0.0.6")))
    assert [(o.host, o.host_state, o.port, o.state) for o in parsed.observations] == [
        ("127.0.0.5", "up", 22, "open"),
        ("127.0.0.5", "up", 80, "open"),
        ("127.0.0.6", "up", None, ""),
    ]


def test_missing_run_figures():
    data = document(host()).replace(b' start="1796595354"', b"").replace(b'<hosts up="1" down="0" total="1"/>', b"")
    parsed = parse(data.replace(b' elapsed="6.26"', b""))
    assert (parsed.started_at, parsed.elapsed, parsed.hosts_up, parsed.hosts_total) == (None, None, 1, 1)


# --- hostile documents ----------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE nmaprun [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<nmaprun scanner="nmap" version="&lol9;"><runstats><finished time="1" elapsed="1"/></runstats></nmaprun>
"""


@pytest.mark.parametrize(
    "prologue",
    [
        '<!DOCTYPE nmaprun [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
        '<!DOCTYPE nmaprun [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/x.dtd"> %remote;]>',
        '<!DOCTYPE nmaprun SYSTEM "http://127.0.0.1:9/nmap.dtd">',
        '<!DOCTYPE nmaprun PUBLIC "-//x//y" "nmap.dtd">',
        '<!DOCTYPE nmaprun [<!ATTLIST nmaprun version CDATA "6.00">]>',
        '<!DOCTYPE nmaprun [<!ENTITY e "x">]>',
        '<!DOCTYPE other [<!ENTITY e "x">]>',
        "<!DOCTYPE html>",
    ],
)
def test_dtds_entities_and_external_references_are_forbidden(prologue):
    assert refused(document(host(), prologue=prologue)) == "forbidden"


def test_billion_laughs_is_forbidden_before_any_expansion():
    started = time.perf_counter()
    assert refused(BILLION_LAUGHS) == "forbidden"
    assert time.perf_counter() - started < 1


def test_an_entity_reference_without_a_declaration_is_malformed():
    assert refused(document(host()).replace(b'args="nmap -sT"', b'args="&xxe;"')) == "malformed"


def test_size_is_checked_before_parsing():
    assert refused(b"<" * 101, max_bytes=100) == "too_large"  # garbage, but too large first
    assert refused(b" " * (MAX_XML_BYTES + 1)) == "too_large"
    assert parse(document(host()), max_bytes=len(document(host()))).observations


def test_too_many_rows(monkeypatch):
    monkeypatch.setattr(xmlparse, "MAX_OBSERVATIONS", 3)
    assert parse(document(host(ports=port(1) + port(2))))  # one host and two ports: three rows
    assert refused(document(host(ports=port(1) + port(2) + port(3)))) == "too_large"


@pytest.mark.parametrize(
    "data",
    [
        b'<?xml version="1.0"?><html><body>hi</body></html>',
        b"<nmap:nmaprun xmlns:nmap='urn:x'><runstats><finished time='1' elapsed='1'/></runstats></nmap:nmaprun>",
        b"<nmaprun xmlns='urn:x'><runstats><finished time='1' elapsed='1'/></runstats></nmaprun>",
        b"<NMAPRUN/>",
        b"<scanner/>",
    ],
)
def test_another_root_is_not_nmap(data):
    assert refused(data) == "not_nmap"


def test_not_nmap_is_told_before_the_rest_is_read():
    assert refused(b"<other>" + b"\xff\xfe garbage" * 100) == "not_nmap"


@pytest.mark.parametrize("name", ["http_open.xml", "two_hosts_run1.xml", "localhost_hostname.xml"])
def test_every_cut_of_recorded_output_is_truncated(name):
    data = fixture(name)
    root = data.index(b"<nmaprun ")
    root_end = data.index(b">", root) + 1
    end = data.rindex(b"</nmaprun>")
    for cut in range(root_end, end + len(b"</nmaprun"), 7):
        assert refused(data[:cut]) == "truncated", cut
    for cut in range(0, root_end, 13):
        assert refused(data[:cut]) in ("malformed", "truncated"), cut


def test_a_cut_in_the_middle_of_a_utf8_character_is_truncated():
    data = document(host(ports=port(service='<service name="http" product="政务服务" method="probed" conf="10"/>')))
    cut = data.index("务".encode()) + 1
    assert refused(data[:cut]) == "truncated"


def test_without_runstats_or_after_an_error_the_run_is_truncated():
    assert refused(document(host(), runstats=False)) == "truncated"
    failed = document(host()).replace(b'exit="success"', b'exit="error" errormsg="Cannot allocate memory"')
    with pytest.raises(XmlError) as caught:
        parse(failed)
    assert caught.value.reason == "truncated" and "Cannot allocate memory" in str(caught.value)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"   \n",
        b"\x00\x01\x02\x03garbage",
        bytes(random.Random(13).randrange(256) for _ in range(4096)),
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
        b"<nmaprun><host></nmaprun>",
        b"<nmaprun/><nmaprun/>",
        b"<nmaprun/>trailing junk",
        b'{"nmaprun": {}}',
    ],
)
def test_garbage_is_malformed(data):
    assert refused(data) == "malformed"


def test_bytes_that_are_not_utf8_are_malformed():
    latin = document(host(ports=port(service='<service name="http" product="Caf\xe9" method="probed" conf="10"/>')))
    assert refused(latin.replace("Café".encode(), b"Caf\xe9")) == "malformed"


@pytest.mark.parametrize(
    "encoding", ["x-unknown-charset", "cp1252", "utf-7", "gb18030", "hz", "rot13", "idna", "utf-32"]
)
def test_encodings_expat_does_not_read_itself_are_malformed(encoding):
    data = fixture("http_open.xml")
    assert refused(data.replace(b'encoding="UTF-8"', f'encoding="{encoding}"'.encode())) == "malformed"
    utf16 = data.decode().replace('encoding="UTF-8"', f'encoding="{encoding}"').encode("utf-16")
    assert refused(utf16) == "malformed"


def test_utf16_output_is_read():
    data = fixture("http_open.xml").decode().replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")
    assert parse(data).observations == parse(fixture("http_open.xml")).observations


def test_a_declared_latin1_document_is_read_in_its_encoding():
    data = document(host(ports=port(service='<service name="http" product="Café" method="probed" conf="10"/>')))
    data = data.decode().replace('encoding="UTF-8"', 'encoding="ISO-8859-1"').encode("latin-1")
    assert parse(data).observations[0].product == "Café"


@pytest.mark.parametrize(
    "bad",
    [
        host("999.1.1.1"),
        host("not-an-address"),
        host("127.0.0.1", state="sideways"),
        host(ports=port(70000)),
        host(ports=port(-1)),
        host(ports=port(443, "ajar")),
        host(ports='<port protocol="tcp" portid="443"></port>'),
        host(ports='<port protocol="icmp" portid="1"><state state="open" reason="x" reason_ttl="0"/></port>'),
        '<host><status state="up" reason="x" reason_ttl="0"/></host>',
    ],
)
def test_values_nmap_never_writes_are_malformed(bad):
    assert refused(document(bad)) == "malformed"


@pytest.mark.parametrize(
    "attribute", [b'start="yesterday"', b'start="99999999999999999999"', b'elapsed="nan"', b'elapsed="-1"']
)
def test_bad_run_figures_are_malformed(attribute):
    data = document(host())
    name = attribute.split(b"=")[0]
    start = data.index(b" " + name + b'="') + 1
    end = data.index(b'"', start + len(name) + 2) + 1
    assert refused(data[:start] + attribute + data[end:]) == "malformed"


@PROPERTY
@given(st.binary(max_size=2048))
def test_any_bytes_give_a_result_or_an_xml_error(data):
    try:
        parse(data)
    except XmlError as error:
        assert error.reason in xmlparse.REASONS


@PROPERTY
@given(st.data())
def test_mutated_recorded_output_gives_a_result_or_an_xml_error(data):
    original = bytearray(fixture("two_hosts_run1.xml"))
    for _ in range(data.draw(st.integers(1, 8))):
        index = data.draw(st.integers(0, len(original) - 1))
        original[index] = data.draw(st.integers(0, 255))
    try:
        parsed = parse(bytes(original))
    except XmlError as error:
        assert error.reason in xmlparse.REASONS
    else:
        assert all(isinstance(row, Observation) for row in parsed.observations)


# --- the benchmark's synthetic file ---------------------------------------------------------------


def test_the_synthetic_1000_host_file_parses_quickly_with_its_counts():
    data = synthetic_xml(1000, 5)
    assert data == synthetic_xml(1000, 5)  # reproducible
    started = time.perf_counter()
    parsed = parse(data)
    seconds = time.perf_counter() - started
    assert seconds < 3.0
    assert len(parsed.observations) == 5000
    assert len({row.host for row in parsed.observations}) == 1000
    assert all(row.host.startswith("127.") and row.host_state == "up" for row in parsed.observations)
    assert (parsed.hosts_up, parsed.hosts_total) == (1000, 1000)
    open_rows = [row for row in parsed.observations if row.state == "open"]
    assert data.count(b'<state state="open"') == len(open_rows)
    assert all(row.service for row in open_rows)
    assert parsed.nmap_version == "7.93" and parsed.args.startswith("nmap --unprivileged -sT -sV")
    assert parsed.started_at < parsed.finished_at


def test_the_synthetic_file_follows_its_arguments():
    parsed = parse(synthetic_xml(3, ports_per_host=40, seed=2))
    assert len(parsed.observations) == 120
    assert synthetic_xml(3, seed=1) != synthetic_xml(3, seed=2)
