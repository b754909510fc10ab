"""Network targets and expected ports: normal forms, a hostile corpus, splitting and properties."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assets.targets import (
    TargetError,
    address_count,
    parse_port,
    parse_ports,
    parse_target,
    parse_targets,
)

pytestmark = pytest.mark.nodb

MAX = 256

# Deterministic for CI: derandomized, no example database, no deadline on slow machines.
PROPERTY = settings(derandomize=True, database=None, deadline=None, max_examples=500)


def refused(func, value, *args) -> TargetError:
    with pytest.raises(TargetError) as caught:
        func(value, *args)
    return caught.value


# --- targets: accepted inputs and their normal forms -----------------------------------------


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("  127.0.0.1\t\n", "127.0.0.1"),
        ("10.1.2.3", "10.1.2.3"),
        ("0.0.0.0", "0.0.0.0"),  # noqa: S104 - a target, not a bind address
        ("255.255.255.255", "255.255.255.255"),
        ("::1", "::1"),
        ("0:0:0:0:0:0:0:1", "::1"),
        ("2001:DB8::1", "2001:db8::1"),
        ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("127.0.0.0/24", "127.0.0.0/24"),
        ("127.0.0.5/24", "127.0.0.0/24"),
        ("127.0.0.1/32", "127.0.0.1"),
        ("192.168.1.129/25", "192.168.1.128/25"),
        ("10.0.0.0/31", "10.0.0.0/31"),
        ("2001:db8::/126", "2001:db8::/126"),
        ("2001:DB8::7/126", "2001:db8::4/126"),
        ("::1/128", "::1"),
        ("2001:db8::/120", "2001:db8::/120"),
        ("localhost", "localhost"),
        ("example.org", "example.org"),
        ("Example.ORG", "example.org"),
        ("example.org.", "example.org"),
        ("www.city-hall.example.gov.cn", "www.city-hall.example.gov.cn"),
        ("db01", "db01"),
        ("1.2.3.com", "1.2.3.com"),
        ("3com.example", "3com.example"),
        ("a.b", "a.b"),
        ("xn--fiqs8s.example", "xn--fiqs8s.example"),
        ("1.2.3.4a", "1.2.3.4a"),
        ("a" * 63 + ".org", "a" * 63 + ".org"),
        (".".join(["a" * 63] * 3) + "." + "a" * 61, ".".join(["a" * 63] * 3) + "." + "a" * 61),
    ],
)
def test_accepted_targets(text, normal):
    assert parse_target(text, MAX) == normal
    assert parse_target(normal, MAX) == normal


def test_longest_host_name_is_253_characters():
    name = ".".join(["a" * 63] * 3) + "." + "a" * 61
    assert len(name) == 253
    assert parse_target(name, MAX) == name
    assert parse_target(name + ".", MAX) == name
    assert refused(parse_target, name + "a", MAX).reason == "invalid"


@pytest.mark.parametrize(
    ("text", "limit"),
    [("127.0.0.0/24", 256), ("127.0.0.0/8", 2**24), ("::/0", 2**128), ("2001:db8::/126", 4)],
)
def test_block_exactly_at_the_limit_is_accepted(text, limit):
    assert parse_target(text, limit) == text


@pytest.mark.parametrize(
    ("text", "limit"),
    [("127.0.0.0/23", 256), ("2001:db8::/126", 3), ("127.0.0.0/31", 1), ("127.0.0.1/32", 1)],
)
def test_limit_boundary(text, limit):
    if text.endswith("/32"):
        assert parse_target(text, limit) == "127.0.0.1"
    else:
        error = refused(parse_target, text, limit)
        assert error.reason == "too_large"
        assert error.value == text


@pytest.mark.parametrize("limit", [0, -1, 1.5, "256", True, None])
def test_bad_limit_is_a_programming_error(limit):
    with pytest.raises(ValueError, match="max_addresses") as caught:
        parse_target("127.0.0.1", limit)
    assert not isinstance(caught.value, TargetError)


# --- targets: the hostile corpus -------------------------------------------------------------

HOSTILE_TARGETS = [
    # option injection
    ("-iL /etc/passwd", "option"),
    ("-iL", "option"),
    ("-oN x", "option"),
    ("-oX /tmp/out.xml", "option"),
    ("--script=vuln", "option"),
    ("--script", "option"),
    ("--datadir", "option"),
    ("--datadir=/tmp", "option"),
    ("-p-", "option"),
    ("-", "option"),
    ("  -iL x", "option"),
    ("-example.org", "option"),
    ("-127.0.0.1", "option"),
    # shell metacharacters and smuggled arguments
    ("127.0.0.1; rm -rf /", "invalid"),
    ("127.0.0.1;id", "invalid"),
    ("$(id)", "invalid"),
    ("`id`", "invalid"),
    ("a|b", "invalid"),
    ("a&b", "invalid"),
    ("a>b", "invalid"),
    ("a<b", "invalid"),
    ("(a)", "invalid"),
    ("{a,b}", "invalid"),
    ("'a'", "invalid"),
    ('"a"', "invalid"),
    ("a\\b", "invalid"),
    ("${IFS}", "invalid"),
    ("127.0.0.1 -p 1-65535", "invalid"),
    ("127.0.0.1 --script=vuln", "invalid"),
    ("127.0.0.1\n-iL /etc/passwd", "invalid"),
    ("127.0.0.1\x00-iL", "invalid"),
    ("127.0.0.1,127.0.0.2", "invalid"),
    ("example.org/24", "invalid"),
    # huge and malformed ranges
    ("0.0.0.0/0", "too_large"),
    ("::/0", "too_large"),
    ("10.0.0.0/8", "too_large"),
    ("2001:db8::/64", "too_large"),
    ("127.0.0.1/33", "invalid"),
    ("::1/129", "invalid"),
    ("127.0.0.1/", "invalid"),
    ("/24", "invalid"),
    ("127.0.0.1/24/24", "invalid"),
    ("127.0.0.1/-1", "invalid"),
    ("127.0.0.0/255.255.255.0", "invalid"),
    ("127.0.0.0/0024", "invalid"),
    ("10.0.0.1-20", "invalid"),
    ("1-20", "invalid"),
    ("10.0.0.1-10.0.0.20", "invalid"),
    ("10.0.0-255.1", "invalid"),
    ("10.0.0.*", "invalid"),
    ("*.example.org", "invalid"),
    ("*", "invalid"),
    # malformed and ambiguous addresses
    ("999.1.1.1", "invalid"),
    ("256.0.0.1", "invalid"),
    ("127.000.0.1", "invalid"),
    ("0127.0.0.1", "invalid"),
    ("127.1", "invalid"),
    ("1.2.3", "invalid"),
    ("1.2.3.4.5", "invalid"),
    ("2130706433", "invalid"),
    ("0x7f000001", "invalid"),
    ("0x7f.1", "invalid"),
    ("0X7F.0.0.1", "invalid"),
    ("example.123", "invalid"),
    ("1:2:3:4:5:6:7:8:9", "invalid"),
    ("2001:db8:::1", "invalid"),
    ("fe80::1%eth0", "invalid"),
    ("fe80::1%25eth0", "invalid"),
    ("[::1]", "invalid"),
    # URLs and ports
    ("http://example.org", "invalid"),
    ("https://example.org/", "invalid"),
    ("example.org:443", "invalid"),
    ("user@example.org", "invalid"),
    # bad host names
    ("exa mple.org", "invalid"),
    ("exämple.org", "invalid"),
    ("ехample.org", "invalid"),  # Cyrillic "е" and "х"
    ("example\u200b.org", "invalid"),
    ("ｅｘａｍｐｌｅ.org", "invalid"),  # fullwidth letters
    ("example.org\u3000-iL", "invalid"),
    ("a" * 64 + ".org", "invalid"),
    (".".join(["a" * 63] * 4) + ".org", "invalid"),
    ("a." * 127 + "org", "invalid"),
    ("example..org", "invalid"),
    (".example.org", "invalid"),
    ("example.org..", "invalid"),
    (".", "invalid"),
    ("example-.org", "invalid"),
    ("example.-org", "invalid"),
    ("example.org-", "invalid"),
    ("exa_mple.org", "invalid"),
    # empty
    ("", "empty"),
    ("   ", "empty"),
    ("\t\n", "empty"),
]


@pytest.mark.parametrize(("text", "reason"), HOSTILE_TARGETS)
def test_hostile_targets_are_refused(text, reason):
    error = refused(parse_target, text, MAX)
    assert error.reason == reason
    assert error.value == text
    assert str(error)
    with pytest.raises(TargetError):
        parse_targets([text], MAX)


@pytest.mark.parametrize("value", [None, 127, b"127.0.0.1", ["127.0.0.1"]])
def test_non_strings_are_refused(value):
    assert refused(parse_target, value, MAX).reason == "invalid"


def test_error_is_a_value_error_with_a_clear_bounded_message():
    error = refused(parse_target, "-iL /etc/passwd", MAX)
    assert isinstance(error, ValueError)
    assert "option" in str(error)
    assert "-iL /etc/passwd" in str(error)
    error = refused(parse_target, "10.0.0.0/8", MAX)
    assert "16777216" in str(error)
    assert "256" in str(error)
    long_value = "x;" * 5000
    assert len(str(refused(parse_target, long_value, MAX))) < 200


@pytest.mark.parametrize(
    ("target", "count"),
    [
        ("127.0.0.1", 1),
        ("::1", 1),
        ("example.org", 1),
        ("127.0.0.1/32", 1),
        ("127.0.0.0/24", 256),
        ("10.0.0.0/8", 2**24),
        ("2001:db8::/126", 4),
        ("::/0", 2**128),
    ],
)
def test_address_count(target, count):
    assert address_count(target) == count


def test_address_count_refuses_what_is_not_a_target():
    assert refused(address_count, "-iL").reason == "option"
    assert refused(address_count, "1.2.3").reason == "invalid"


# --- parse_targets -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ("", []),
        (" ,; \n", []),
        ([], []),
        ("127.0.0.1", ["127.0.0.1"]),
        ("127.0.0.1 example.org", ["127.0.0.1", "example.org"]),
        ("127.0.0.1,example.org;::1", ["127.0.0.1", "example.org", "::1"]),
        ("127.0.0.1 ,\n example.org ;\t::1", ["127.0.0.1", "example.org", "::1"]),
        ("b.example a.example", ["b.example", "a.example"]),
        ("127.0.0.1 127.0.0.1/32 127.0.0.1", ["127.0.0.1"]),
        ("Example.org example.org. EXAMPLE.ORG", ["example.org"]),
        ("127.0.0.5/24 127.0.0.0/24 127.0.0.9", ["127.0.0.0/24", "127.0.0.9"]),
        (["::1", "0:0:0:0:0:0:0:1", " 2001:db8::/126 "], ["::1", "2001:db8::/126"]),
        (("10.0.0.2", "10.0.0.1", "10.0.0.2"), ["10.0.0.2", "10.0.0.1"]),
        (iter(["a.example", "b.example"]), ["a.example", "b.example"]),
    ],
)
def test_parse_targets_splits_normalises_and_dedupes(values, expected):
    assert parse_targets(values, MAX) == expected


@pytest.mark.parametrize(
    ("values", "bad", "reason"),
    [
        ("127.0.0.1 -iL /etc/passwd", "-iL", "option"),
        ("127.0.0.1 1.2.3 -iL", "1.2.3", "invalid"),
        ("127.0.0.1;$(id)", "$(id)", "invalid"),
        ("127.0.0.1|id", "127.0.0.1|id", "invalid"),
        ("127.0.0.1,10.0.0.0/8", "10.0.0.0/8", "too_large"),
        (["127.0.0.1", "127.0.0.1 -p 1-65535"], "127.0.0.1 -p 1-65535", "invalid"),
        (["127.0.0.1", "a,b"], "a,b", "invalid"),
        (["127.0.0.1", ""], "", "empty"),
        (["127.0.0.1", None], None, "invalid"),
    ],
)
def test_parse_targets_raises_for_the_first_bad_value(values, bad, reason):
    error = refused(parse_targets, values, MAX)
    assert error.value == bad
    assert error.reason == reason


def test_parse_targets_refuses_bytes():
    assert refused(parse_targets, b"127.0.0.1", MAX).reason == "invalid"


# --- ports -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("443/tcp", "443/tcp"),
        ("53/UDP", "53/udp"),
        (" 22/tcp ", "22/tcp"),
        ("443", "443/tcp"),
        ("1/tcp", "1/tcp"),
        ("65535/udp", "65535/udp"),
        ("3868/sctp", "3868/sctp"),
        ("80/Tcp", "80/tcp"),
        ("\t8080\n", "8080/tcp"),
    ],
)
def test_accepted_ports(text, normal):
    assert parse_port(text) == normal
    assert parse_port(normal) == normal


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("-p-", "option"),
        ("-1/tcp", "option"),
        ("--top-ports=1000", "option"),
        ("-", "option"),
        ("0/tcp", "port"),
        ("0", "port"),
        ("65536/tcp", "port"),
        ("99999", "port"),
        ("100000/tcp", "port"),
        ("0443/tcp", "port"),
        ("00", "port"),
        ("+443/tcp", "port"),
        ("1-1024/tcp", "port"),
        ("1-65535", "port"),
        ("80,443", "port"),
        ("443;id", "port"),
        ("http/tcp", "port"),
        ("/tcp", "port"),
        ("4.5/tcp", "port"),
        ("0x50/tcp", "port"),
        ("443/icmp", "protocol"),
        ("443/ip", "protocol"),
        ("443/", "protocol"),
        ("443/tcp;id", "protocol"),
        ("443/tcp,udp", "protocol"),
        ("443/tcp/udp", "invalid"),
        ("443 /tcp", "invalid"),
        ("443/ tcp", "invalid"),
        ("4 43", "invalid"),
        ("٤٤٣/tcp", "invalid"),  # Arabic-Indic digits
        ("４４３/tcp", "invalid"),  # fullwidth digits
        ("443/tсp", "invalid"),  # Cyrillic "с"
    ],
)
def test_refused_ports(text, reason):
    error = refused(parse_port, text)
    assert error.reason == reason
    assert error.value == text
    assert str(error)


@pytest.mark.parametrize("value", [None, 443, b"443/tcp"])
def test_non_string_ports_are_refused(value):
    assert refused(parse_port, value).reason == "invalid"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ("", []),
        ([], []),
        ("443/tcp", ["443/tcp"]),
        ("443 80/tcp,53/udp;22", ["22/tcp", "80/tcp", "443/tcp", "53/udp"]),
        ("443/tcp 443 443/TCP", ["443/tcp"]),
        ("161/udp 53/udp 3868/sctp 8443 80", ["3868/sctp", "80/tcp", "8443/tcp", "53/udp", "161/udp"]),
        (["9000", "10000", "100"], ["100/tcp", "9000/tcp", "10000/tcp"]),
    ],
)
def test_parse_ports_normalises_dedupes_and_sorts(values, expected):
    assert parse_ports(values) == expected


@pytest.mark.parametrize(
    ("values", "bad", "reason"),
    [
        ("443/tcp -p- 80", "-p-", "option"),
        ("443 0443", "0443", "port"),
        (["443/tcp", "443/tcp/udp"], "443/tcp/udp", "invalid"),
        (["443/tcp", "53/gre"], "53/gre", "protocol"),
        (["443/tcp", ""], "", "empty"),
    ],
)
def test_parse_ports_raises_for_a_bad_value(values, bad, reason):
    error = refused(parse_ports, values)
    assert error.value == bad
    assert error.reason == reason


# --- properties --------------------------------------------------------------------------------

SAFE_TARGET = re.compile(r"[0-9a-z.:/\-]+")
REASONS = {"empty", "option", "invalid", "too_large"}

# Text that often comes close to a valid target: digits, hex letters, dots, colons, slashes.
NEAR_TARGETS = st.text(alphabet="0123456789abcdefxABCX.:/-% ;_", max_size=45)


def check_target_property(text: str, limit: int) -> None:
    try:
        result = parse_target(text, limit)
    except TargetError as error:
        assert error.reason in REASONS
        assert error.value == text
        return
    assert not result.startswith("-")
    assert SAFE_TARGET.fullmatch(result)
    assert parse_target(result, limit) == result
    assert 1 <= address_count(result) <= limit


@PROPERTY
@given(st.text(), st.integers(min_value=1, max_value=2**32))
def test_property_arbitrary_text(text, limit):
    check_target_property(text, limit)


@PROPERTY
@given(NEAR_TARGETS, st.sampled_from([1, 256, 2**16, 2**128]))
def test_property_near_targets(text, limit):
    check_target_property(text, limit)


@PROPERTY
@given(st.ip_addresses())
def test_property_every_address_round_trips(address):
    assert parse_target(str(address), 1) == str(address)
    assert parse_target(f" {address.exploded} ", 1) == str(address)


@PROPERTY
@given(st.ip_addresses(), st.integers(min_value=0, max_value=128))
def test_property_blocks_contain_their_input(address, prefix):
    prefix = min(prefix, address.max_prefixlen)
    result = parse_target(f"{address}/{prefix}", 2**128)
    assert parse_target(result, 2**128) == result
    assert address_count(result) == 2 ** (address.max_prefixlen - prefix)
    if prefix == address.max_prefixlen:
        assert result == str(address)
    else:
        assert result.endswith(f"/{prefix}")


@PROPERTY
@given(
    st.lists(st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True), min_size=1, max_size=5),
    st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True),
)
def test_property_host_names_are_accepted(labels, top):
    name = ".".join([*labels, top])
    assert parse_target(name.upper() + ".", 1) == name


@PROPERTY
@given(st.lists(st.integers(min_value=1, max_value=65535), max_size=10), st.sampled_from(["tcp", "udp", "sctp"]))
def test_property_ports_round_trip(numbers, protocol):
    texts = [f"{number}/{protocol.upper()}" for number in numbers]
    result = parse_ports(",".join(texts))
    assert result == [f"{number}/{protocol}" for number in sorted(set(numbers))]
    assert parse_ports(result) == result


@PROPERTY
@given(st.text())
def test_property_ports_arbitrary_text(text):
    try:
        result = parse_port(text)
    except TargetError as error:
        assert error.reason in {"empty", "option", "invalid", "port", "protocol"}
        return
    assert re.fullmatch(r"[1-9][0-9]{0,4}/(tcp|udp|sctp)", result)
    assert parse_port(result) == result
