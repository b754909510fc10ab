"""Strict parsing of an asset's network targets and expected open ports.

Targets end up on the nmap command line, so this module accepts only three shapes and
returns them in one normal form:

* an IPv4 or IPv6 address (``127.0.0.1``, ``::1``), as the :mod:`ipaddress` module writes it;
  IPv4 with leading zeros (``127.000.0.1``) is refused, since tools read it as octal;
* a CIDR block (``127.0.0.5/24`` becomes ``127.0.0.0/24``), bounded by ``max_addresses``;
  a ``/32`` or ``/128`` block becomes the plain address;
* a host name after RFC 1123, lowercased, without its trailing dot. It needs at least one
  letter (``1.2.3`` or the nmap range ``10.0.0.1-20`` is no host name), and its last label must
  not be numeric (``0x7f.1``, ``0x7f000001``): resolvers read such names as IPv4 addresses in
  the classic ``inet_aton`` forms, which would bypass any check made on the text.

Anything else — leading ``-`` (nmap options such as ``-iL``), whitespace inside, shell
metacharacters, ranges, wildcards, URLs, IPv6 zone ids, non-ASCII — raises
:class:`TargetError` with a stable ``reason`` code. The module is pure: no Flask, no database.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping

__all__ = [
    "PROTOCOLS",
    "TargetError",
    "address_count",
    "parse_port",
    "parse_ports",
    "parse_target",
    "parse_targets",
]

PROTOCOLS = ("tcp", "udp", "sctp")

_MESSAGES = {
    "empty": "A value is required.",
    "option": "{value} starts with '-': it would be read as a command-line option.",
    "invalid": "{value} is not an IP address, a CIDR block or a host name.",
    "too_large": "{value} covers {count} addresses; at most {limit} are allowed.",
    "port": "{value} is not a port number from 1 to 65535 (e.g. 443/tcp).",
    "protocol": "{value} has an unknown protocol; use tcp, udp or sctp.",
    "duplicate": "{value} is listed twice.",
}

# Characters that can occur in any accepted target, before lowercasing.
_TARGET_CHARS = re.compile(r"[0-9A-Za-z.:/\-]+")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?")
# A last label that inet_aton would read as a number: decimal, octal or hexadecimal.
_LETTER = re.compile(r"[a-z]")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")
_PREFIX = re.compile(r"0|[1-9][0-9]{0,2}")
_PORT = re.compile(r"[1-9][0-9]{0,4}")
_SEPARATORS = re.compile(r"[\s,;]+")
_MAX_HOSTNAME = 253


class TargetError(ValueError):
    """A refused target or port: ``value`` is the input, ``reason`` a stable short code."""

    def __init__(self, value: object, reason: str, **details: object) -> None:
        self.value = value
        self.reason = reason
        self.details = details
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(_MESSAGES[reason].format(value=shown, **details))


def _ip_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _parse_network(value: object, text: str) -> tuple[str, int]:
    address, prefix = text.split("/", 1)
    parsed = _ip_address(address)
    # The prefix is a plain decimal length: no netmask form, no leading zeros, no second slash.
    if parsed is None or not _PREFIX.fullmatch(prefix) or int(prefix) > parsed.max_prefixlen:
        raise TargetError(value, "invalid")
    network = ipaddress.ip_network(f"{parsed}/{prefix}", strict=False)
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address), 1
    return str(network), network.num_addresses


def _parse_hostname(value: object, text: str) -> str:
    name = text.lower()
    if name.endswith("."):
        name = name[:-1]
    if not name or len(name) > _MAX_HOSTNAME:
        raise TargetError(value, "invalid")
    labels = name.split(".")
    if not all(_LABEL.fullmatch(label) for label in labels):
        raise TargetError(value, "invalid")
    # At least one letter, so that a malformed address or an nmap range (1.2.3, 10.0.0.1-20) is no
    # host name, and no numeric last label, so that no resolver reads the name as an address.
    if not _LETTER.search(name) or _NUMERIC_LABEL.fullmatch(labels[-1]):
        raise TargetError(value, "invalid")
    return name


def _parse(value: object) -> tuple[str, int]:
    """Normal form and address count of one target, without the size limit."""
    if not isinstance(value, str):
        raise TargetError(value, "invalid")
    text = value.strip()
    if not text:
        raise TargetError(value, "empty")
    if text.startswith("-"):
        raise TargetError(value, "option")
    if not text.isascii() or not _TARGET_CHARS.fullmatch(text):
        raise TargetError(value, "invalid")
    if "/" in text:
        return _parse_network(value, text)
    address = _ip_address(text)
    if address is not None:
        return str(address), 1
    if ":" in text:
        raise TargetError(value, "invalid")
    return _parse_hostname(value, text), 1


def _check_limit(max_addresses: int) -> None:
    if isinstance(max_addresses, bool) or not isinstance(max_addresses, int) or max_addresses < 1:
        raise ValueError(f"max_addresses must be a positive integer, not {max_addresses!r}")


def parse_target(text: str, max_addresses: int) -> str:
    """Return the normal form of one network target, or raise :class:`TargetError`."""
    _check_limit(max_addresses)
    normal, count = _parse(text)
    if count > max_addresses:
        raise TargetError(text, "too_large", count=count, limit=max_addresses)
    return normal


def address_count(target: str) -> int:
    """Number of addresses a target covers: 1 for an address or host name, the block size for CIDR."""
    return _parse(target)[1]


def _split(values: Iterable[str] | str) -> list[object]:
    if isinstance(values, str):
        return [piece for piece in _SEPARATORS.split(values) if piece]
    if isinstance(values, bytes | bytearray | Mapping) or not isinstance(values, Iterable):
        raise TargetError(values, "invalid")  # bytes, numbers, booleans, mappings...
    return list(values)


def parse_targets(values: Iterable[str] | str, max_addresses: int) -> list[str]:
    """Parse a list of targets, or one string separated by whitespace, commas or semicolons.

    Returns the normal forms, without duplicates, in input order; the first bad value raises.
    """
    _check_limit(max_addresses)
    result: dict[str, None] = {}
    for value in _split(values):
        result.setdefault(parse_target(value, max_addresses))
    return list(result)


def _parse_port(value: object) -> tuple[str, int]:
    if not isinstance(value, str):
        raise TargetError(value, "invalid")
    text = value.strip()
    if not text:
        raise TargetError(value, "empty")
    if text.startswith("-"):
        raise TargetError(value, "option")
    if not text.isascii() or any(char.isspace() for char in text) or text.count("/") > 1:
        raise TargetError(value, "invalid")
    number, _, protocol = text.partition("/")
    protocol = protocol.lower() if "/" in text else "tcp"
    if protocol not in PROTOCOLS:
        raise TargetError(value, "protocol")
    if not _PORT.fullmatch(number) or int(number) > 65535:
        raise TargetError(value, "port")
    return protocol, int(number)


def parse_port(text: str) -> str:
    """Return ``number/protocol`` for one port (``443``, ``53/UDP``), or raise :class:`TargetError`."""
    protocol, number = _parse_port(text)
    return f"{number}/{protocol}"


def parse_ports(values: Iterable[str] | str) -> list[str]:
    """Parse ports like :func:`parse_targets`: normal forms, no duplicates, sorted by (protocol, number)."""
    ports = {_parse_port(value) for value in _split(values)}
    return [f"{number}/{protocol}" for protocol, number in sorted(ports)]
