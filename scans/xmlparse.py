"""Reading nmap's XML output into observations: one row per host and port, in one normal form.

The XML comes from our own runs and from files uploaded from elsewhere, so it is hostile input.
The document is read in one pass by defusedxml's expat parser into a small target that keeps
only what the observations need (no element tree is built). Refused, each with a stable
`XmlError.reason`:

* ``too_large``: more than ``max_bytes``, checked before anything is parsed, or more than
  :data:`MAX_OBSERVATIONS` host and port rows;
* ``forbidden``: any DTD, entity declaration or external reference. The one exception is the
  bare ``<!DOCTYPE nmaprun>`` line that nmap itself writes (no identifier, no internal subset);
* ``not_nmap``: a well-formed document whose root is not ``<nmaprun>``;
* ``malformed``: not well-formed XML (garbage, bytes that are not in the declared encoding), or
  nmap output with values nmap never writes (an address that is no IP address, a port number
  out of range, an unknown port state or protocol);
* ``truncated``: a document cut off before ``</nmaprun>``, or without the ``<runstats>``
  ``<finished>`` element that nmap writes last, or whose ``finished`` says ``exit="error"``:
  the results of an unfinished run would make every port it did not reach look closed.

Normal forms: the host is the IPv4 address of the ``<host>`` (else its IPv6 address) as
:mod:`ipaddress` writes it; the host state is ``up``, ``down`` or ``unknown`` (nmap's
``unknown``/``skipped`` states, and hosts whose ``--host-timeout`` passed: nmap lists those as
up but without their ports, so their ports are unknown rather than closed). Text fields are
cut to the sizes of their columns (:data:`FIELD_SIZES`) after control and bidirectional
formatting characters are dropped and runs of white space collapsed. The same address listed
twice (two target names for one address) gives one set of rows: an ``up`` state and an
``open`` port win. Rows are sorted by address, then protocol and port.
"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.common import DTDForbidden
from defusedxml.ElementTree import DefusedXMLParser

from secgov.codes import N_

__all__ = [
    "FIELD_SIZES",
    "HOST_STATES",
    "MAX_OBSERVATIONS",
    "MAX_XML_BYTES",
    "PORT_STATES",
    "REASONS",
    "Observation",
    "Parsed",
    "XmlError",
    "address_key",
    "parse",
]

MAX_XML_BYTES = 64 * 1024 * 1024
# Host and port rows of one document: a /16 with a few listed ports per host. The rows are
# stored, compared and shown; a file with more is refused rather than half read.
MAX_OBSERVATIONS = 250_000

# The sizes of the columns the observations are stored in (and of the run's own fields).
FIELD_SIZES = {
    "host": 64,
    "hostname": 255,
    "service": 64,
    "product": 200,
    "version": 100,
    "cpe": 255,
    "nmap_version": 32,
    "args": 4096,
}
HOST_STATES = ("up", "down", "unknown")
# When one address is listed twice: what was seen up wins over unknown, unknown over down.
_STATE_RANK = {"up": 0, "unknown": 1, "down": 2}
# nmap's statenum2str(); "open" is the only state the comparison counts as open.
PORT_STATES = frozenset({"open", "closed", "filtered", "unfiltered", "open|filtered", "closed|filtered", "unknown"})
PROTOCOLS = frozenset({"tcp", "udp", "sctp", "ip"})

# Why a document was refused: the English text of XmlError and the label for the pages.
REASONS = {
    "too_large": N_("The nmap output is too large."),
    "malformed": N_("The file is not well-formed nmap XML output."),
    "not_nmap": N_("The file is not nmap XML output."),
    "truncated": N_("The nmap output is incomplete: the scan did not finish."),
    "forbidden": N_("The file declares a DTD, entities or external references, which are refused."),
}

_CHUNK = 1024 * 1024
_DIGITS = re.compile(r"[0-9]{1,20}")
# C0/C1 controls, zero-width and bidirectional formatting characters, the byte order mark.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
_WHITESPACE = re.compile(r"\s+")
# The XML declaration's encoding. Only the encodings expat reads itself are accepted: any other
# name would hand the bytes to one of Python's codecs (multi-byte ones fail, some are no text
# codecs at all), and nmap writes UTF-8 anyway.
_DECLARED_ENCODING = re.compile(rb"(?:\xef\xbb\xbf)?<\?xml[^>]{0,200}?encoding\s*=\s*[\"']([^\"']{0,64})[\"']")
_ENCODINGS = frozenset({"utf-8", "utf-16", "iso-8859-1", "us-ascii"})


class XmlError(Exception):
    """The document was refused; `reason` is one of :data:`REASONS`, `detail` a short English hint."""

    def __init__(self, reason: str, detail: str = ""):
        if reason not in REASONS:
            raise ValueError(f"unknown reason {reason!r}")
        self.reason = reason
        self.detail = detail
        super().__init__(f"{REASONS[reason]} ({detail})" if detail else REASONS[reason])


@dataclass(frozen=True, slots=True)
class Observation:
    """What one run saw of one port of one host; `port` None is the row of a host without ports."""

    host: str
    hostname: str
    host_state: str
    port: int | None
    protocol: str
    state: str
    service: str
    product: str
    version: str
    cpe: str


@dataclass
class Parsed:
    """The observations of one nmap run and the run's own figures."""

    observations: list[Observation]
    nmap_version: str
    args: str
    started_at: datetime | None
    finished_at: datetime | None
    hosts_up: int
    hosts_total: int
    elapsed: float | None


def address_key(host: str) -> tuple[int, int, str]:
    """Sort key of a host: IPv4 before IPv6, numeric order; anything else last, by its text."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return (9, 0, host)
    return (address.version, int(address), host)


class _Parser(DefusedXMLParser):
    """defusedxml's parser with DTDs forbidden, except the bare ``<!DOCTYPE nmaprun>`` of nmap."""

    def __init__(self, target: _Reader):
        super().__init__(target=target, forbid_dtd=True, forbid_entities=True, forbid_external=True)

    def defused_start_doctype_decl(self, name, sysid, pubid, has_internal_subset):
        if name == "nmaprun" and sysid is None and pubid is None and not has_internal_subset:
            return
        raise DTDForbidden(name, sysid, pubid)


@dataclass
class _Host:
    timed_out: bool
    state: str = ""
    ipv4: str = ""
    ipv6: str = ""
    hostname: str = ""
    ports: dict[tuple[str, int], tuple[str, str, str, str, str]] = field(default_factory=dict)


def _clean(value: str | None, size: int) -> str:
    if not value:
        return ""
    value = _UNPRINTABLE.sub("", value[: size * 4])
    return _WHITESPACE.sub(" ", value).strip()[:size]


def _integer(value: str | None, what: str) -> int | None:
    if value is None:
        return None
    if not _DIGITS.fullmatch(value):
        raise XmlError("malformed", f"{what} is not a number")
    return int(value)


def _timestamp(value: str | None, what: str) -> datetime | None:
    seconds = _integer(value, what)
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise XmlError("malformed", f"{what} is out of range") from None


class _Reader:
    """The parser's target: follows the element path and keeps hosts, ports and run figures."""

    def __init__(self) -> None:
        self.stack: list[str] = []
        self.root_seen = False
        self.closed = False
        self.rows = 0
        self.strings: dict[str, str] = {}
        self.hosts: dict[str, _Host] = {}
        self.host: _Host | None = None
        self.port: list | None = None  # [protocol, portid, state, service, product, version, cpe]
        self.cpe_text: list[str] | None = None
        self.nmap_version = ""
        self.args = ""
        self.started_at: datetime | None = None
        self.finished_at: datetime | None = None
        self.finished = False
        self.exit = ""
        self.errormsg = ""
        self.elapsed: float | None = None
        self.hosts_up: int | None = None
        self.hosts_total: int | None = None

    def _text(self, value: str | None, kind: str) -> str:
        text = _clean(value, FIELD_SIZES[kind])
        return self.strings.setdefault(text, text)  # one string object for the many equal values

    def _count(self) -> None:
        self.rows += 1
        if self.rows > MAX_OBSERVATIONS:
            raise XmlError("too_large", f"more than {MAX_OBSERVATIONS} host and port rows")

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        stack = self.stack
        depth = len(stack)
        parent = stack[-1] if stack else ""
        stack.append(tag)
        if depth == 0:
            if tag != "nmaprun":
                raise XmlError("not_nmap", "the root element is not nmaprun")
            self.root_seen = True
            self.nmap_version = _clean(attrib.get("version"), FIELD_SIZES["nmap_version"])
            self.args = _clean(attrib.get("args"), FIELD_SIZES["args"])
            self.started_at = _timestamp(attrib.get("start"), "nmaprun start")
        elif depth == 1:
            if tag == "host":
                self._count()
                self.host = _Host(timed_out=attrib.get("timedout") == "true")
        elif self.host is not None:
            self._host_start(depth, parent, tag, attrib)
        elif depth == 2 and parent == "runstats":
            if tag == "finished":
                self.finished = True
                self.finished_at = _timestamp(attrib.get("time"), "finished time")
                self.exit = attrib.get("exit", "")
                self.errormsg = _clean(attrib.get("errormsg"), 200)
                elapsed = attrib.get("elapsed")
                if elapsed is not None:
                    try:
                        self.elapsed = float(elapsed)
                    except ValueError:
                        raise XmlError("malformed", "elapsed is not a number") from None
                    if not math.isfinite(self.elapsed) or self.elapsed < 0:
                        raise XmlError("malformed", "elapsed is out of range")
            elif tag == "hosts":
                self.hosts_up = _integer(attrib.get("up", "0"), "hosts up")
                self.hosts_total = _integer(attrib.get("total"), "hosts total")

    def _host_start(self, depth: int, parent: str, tag: str, attrib: dict[str, str]) -> None:
        host = self.host
        if depth == 2:
            if tag == "status":
                host.state = attrib.get("state", "")
            elif tag == "address":
                kind = attrib.get("addrtype", "ipv4")
                if kind == "ipv4" and not host.ipv4:
                    host.ipv4 = attrib.get("addr", "")
                elif kind == "ipv6" and not host.ipv6:
                    host.ipv6 = attrib.get("addr", "")
        elif depth == 3:
            if tag == "hostname" and parent == "hostnames" and not host.hostname:
                host.hostname = self._text(attrib.get("name"), "hostname")
            elif tag == "port" and parent == "ports":
                self._count()
                protocol = (attrib.get("protocol") or "").lower()
                if protocol not in PROTOCOLS:
                    raise XmlError("malformed", "unknown port protocol")
                number = _integer(attrib.get("portid"), "portid")
                if number is None or number > 65535:
                    raise XmlError("malformed", "portid is out of range")
                self.port = [protocol, number, "", "", "", "", ""]
        elif self.port is not None and parent == "port" and depth == 4:
            if tag == "state":
                state = (attrib.get("state") or "").lower()
                if state not in PORT_STATES:
                    raise XmlError("malformed", "unknown port state")
                self.port[2] = state
            elif tag == "service":
                self.port[3] = self._text(attrib.get("name"), "service")
                self.port[4] = self._text(attrib.get("product"), "product")
                self.port[5] = self._text(attrib.get("version"), "version")
        elif tag == "cpe" and parent == "service" and depth == 5 and self.port is not None and not self.port[6]:
            self.cpe_text = []

    def data(self, text: str) -> None:
        if self.cpe_text is not None and len(self.cpe_text) < 64:
            self.cpe_text.append(text[:1024])

    def end(self, tag: str) -> None:
        self.stack.pop()
        depth = len(self.stack)
        if self.cpe_text is not None and tag == "cpe":
            self.port[6] = self._text("".join(self.cpe_text), "cpe")
            self.cpe_text = None
        elif tag == "port" and depth == 3 and self.port is not None:
            self._port_end()
        elif tag == "host" and depth == 1:
            self._host_end()
        elif depth == 0:
            self.closed = True

    def _port_end(self) -> None:
        protocol, number, state, service, product, version, cpe = self.port
        self.port = None
        if not state:
            raise XmlError("malformed", "a port without a state")
        ports = self.host.ports
        key = (protocol, number)
        if key not in ports or (state == "open" and ports[key][0] != "open"):
            ports[key] = (state, service, product, version, cpe)

    def _host_end(self) -> None:
        host, self.host = self.host, None
        text = host.ipv4 or host.ipv6
        try:
            address = str(ipaddress.ip_address(text))
        except ValueError:
            raise XmlError("malformed", "a host without a valid IP address") from None
        if len(address) > FIELD_SIZES["host"]:
            raise XmlError("malformed", "a host address is too long")
        if host.state not in ("up", "down", "unknown", "skipped"):
            raise XmlError("malformed", "a host without a known status")
        state = "unknown" if host.timed_out or host.state == "skipped" else host.state
        known = self.hosts.get(address)
        if known is None:
            host.state = state
            self.hosts[address] = host
            return
        known.hostname = known.hostname or host.hostname
        if _STATE_RANK[state] < _STATE_RANK[known.state]:
            known.state = state
        for key, port in host.ports.items():
            if key not in known.ports or (port[0] == "open" and known.ports[key][0] != "open"):
                known.ports[key] = port

    def close(self) -> None:
        return None

    def observations(self) -> list[Observation]:
        rows: list[Observation] = []
        for address in sorted(self.hosts, key=address_key):
            host = self.hosts[address]
            if not host.ports:
                rows.append(Observation(address, host.hostname, host.state, None, "", "", "", "", "", ""))
                continue
            for (protocol, number), (state, service, product, version, cpe) in sorted(host.ports.items()):
                rows.append(
                    Observation(
                        address, host.hostname, host.state, number, protocol, state, service, product, version, cpe
                    )
                )
        return rows


def parse(data: bytes, *, max_bytes: int = MAX_XML_BYTES) -> Parsed:
    """Read nmap's XML output into observations, or raise :class:`XmlError` (see the module's text)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError("nmap XML is read from bytes")
    if len(data) > max_bytes:
        raise XmlError("too_large", f"more than {max_bytes} bytes")
    data = bytes(data)
    declared = _DECLARED_ENCODING.match(data)
    if declared and declared.group(1).decode("ascii", "replace").lower() not in _ENCODINGS:
        raise XmlError("malformed", "the declared encoding is not accepted")
    reader = _Reader()
    parser = _Parser(reader)
    try:
        try:
            for offset in range(0, len(data), _CHUNK):
                parser.feed(data[offset : offset + _CHUNK])
        except ParseError as error:
            raise XmlError("malformed", str(error)) from None
        try:
            parser.close()
        except ParseError as error:
            if reader.root_seen and not reader.closed:
                raise XmlError("truncated", "the document ends before </nmaprun>") from None
            raise XmlError("malformed", str(error)) from None
    except DefusedXmlException as error:
        raise XmlError("forbidden", type(error).__name__) from None
    except (LookupError, UnicodeError, ValueError) as error:  # an encoding expat could not read
        raise XmlError("malformed", str(error)[:200]) from None
    if not reader.finished:
        raise XmlError("truncated", "no runstats/finished element")
    if reader.exit == "error":
        raise XmlError(
            "truncated", f"nmap reported an error: {reader.errormsg}" if reader.errormsg else "nmap reported an error"
        )
    observations = reader.observations()
    up = sum(1 for host in reader.hosts.values() if host.state == "up")
    return Parsed(
        observations=observations,
        nmap_version=reader.nmap_version,
        args=reader.args,
        started_at=reader.started_at,
        finished_at=reader.finished_at,
        hosts_up=reader.hosts_up if reader.hosts_up is not None else up,
        hosts_total=reader.hosts_total if reader.hosts_total is not None else len(reader.hosts),
        elapsed=reader.elapsed,
    )
