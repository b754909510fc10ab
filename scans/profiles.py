"""The fixed nmap profiles and the one function that builds an nmap command line.

Nothing a user types reaches nmap but validated targets and ports (``assets.targets`` normal
forms, checked again here). Every command line is built in code from a profile:

``nmap --unprivileged -n -oX - --max-retries 2 -T4 <profile options> [--max-rate N] [-6] -- <targets>``

* ``--unprivileged``: nmap never sends raw packets, even though the service runs as root; the
  port-scanning profiles use TCP connect (``-sT``), discovery pings with connects (``-sn``);
* ``-n``: no reverse DNS; ``-oX -``: XML on standard output, nothing written to disk;
* ``-T3`` instead of ``-T4`` when a rate limit is given (fragile assets);
* ``-6`` when the targets are IPv6 addresses: nmap scans one address family per run and silently
  skips the other, so IPv4 and IPv6 addresses are refused together;
* ``--`` ends the options: what follows is read as targets only.

nmap applies ``--top-ports`` *inside* a ``-p`` list rather than adding to it, so when an asset's
expected TCP ports lie outside a profile's usual ports, the profile spells its ports out
(``-p T:...``, see :mod:`scans.topports`) with the expected ones added. :func:`check_argv` accepts
exactly the vectors :func:`build_argv` makes, and :func:`scans.nmap.run` calls it before launching.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from assets.targets import TargetError, address_count, parse_port, parse_target
from scans.topports import TOP_100, TOP_1000
from secgov.codes import N_

__all__ = [
    "DEFAULT_PROFILE",
    "MAX_ADDRESSES",
    "MAX_RATE",
    "MAX_TARGETS",
    "PROFILES",
    "Profile",
    "build_argv",
    "check_argv",
    "check_program",
    "port_set",
    "split_families",
]


@dataclass(frozen=True)
class Profile:
    """A fixed kind of scan: its options never come from a user."""

    code: str
    label: str
    rank: int
    options: tuple[str, ...]
    max_seconds: int


PROFILES: dict[str, Profile] = {
    profile.code: profile
    for profile in (
        Profile("discovery", N_("Discovery (hosts up, no port scan)"), 0, ("-sn", "--host-timeout", "60s"), 600),
        Profile(
            "quick", N_("Quick (100 common TCP ports)"), 1, ("-sT", "--top-ports", "100", "--host-timeout", "5m"), 1800
        ),
        Profile(
            "standard",
            N_("Standard (1000 common TCP ports, service versions)"),
            2,
            ("-sT", "-sV", "--host-timeout", "20m"),
            3600,
        ),
        Profile(
            "full_tcp", N_("Full TCP (all 65535 ports)"), 3, ("-sT", "-p", "1-65535", "--host-timeout", "60m"), 4 * 3600
        ),
    )
}
DEFAULT_PROFILE = "standard"

# Hard ceilings, whatever the settings say: the settings (SECGOV_MAX_TARGET_ADDRESSES) are lower.
MAX_TARGETS = 1024
MAX_ADDRESSES = 65536
MAX_RATE = 10000

_COMMON = ("--unprivileged", "-n", "-oX", "-", "--max-retries", "2")
# The TCP ports a profile scans when no -p is given; None: the profile scans no ports or all of them.
_LISTED = {"quick": TOP_100, "standard": TOP_1000}
_NUMBER = re.compile(r"[1-9][0-9]{0,4}")
_RATE = re.compile(r"[1-9][0-9]{0,5}")
# Never scanned, even if an authorization were to name them: "this host" (0.0.0.0 reaches the local
# machine), multicast and broadcast, and IPv6 forms that lead to IPv4 hosts behind the checks' back.
_FORBIDDEN = tuple(
    ipaddress.ip_network(network)
    for network in (
        "0.0.0.0/8",
        "224.0.0.0/4",
        "255.255.255.255/32",
        "::/128",
        "::ffff:0:0/96",
        "64:ff9b::/96",
        "2001::/32",
        "2002::/16",
        "ff00::/8",
    )
)


def port_set(spec: str) -> set[int]:
    """The port numbers of an nmap list such as ``22,80-81`` (strict: no spaces, no zeros, a <= b)."""
    numbers: set[int] = set()
    for piece in spec.split(","):
        first, dash, last = piece.partition("-")
        if not _NUMBER.fullmatch(first) or (dash and not _NUMBER.fullmatch(last)):
            raise ValueError(f"{spec[:40]!r} is not a port list")
        low, high = int(first), int(last) if dash else int(first)
        if not low <= high <= 65535 or (dash and low == high):
            raise ValueError(f"{spec[:40]!r} is not a port list")
        numbers.update(range(low, high + 1))
    return numbers


def _ranges(numbers: set[int]) -> str:
    """``{22, 80, 81}`` as nmap writes it: ``22,80-81``."""
    pieces: list[str] = []
    ordered = sorted(numbers)
    start = previous = ordered[0]
    for number in [*ordered[1:], None]:
        if number is not None and number == previous + 1:
            previous = number
            continue
        pieces.append(str(start) if start == previous else f"{start}-{previous}")
        if number is not None:
            start = previous = number
    return ",".join(pieces)


def check_program(nmap: object) -> str:
    """``nmap`` itself, or raise ValueError unless it is "nmap" or an absolute path to a program named nmap."""
    if not isinstance(nmap, str) or not (
        nmap == "nmap"
        or (
            nmap.isprintable()
            and os.path.isabs(nmap)
            and os.path.normpath(nmap) == nmap
            and os.path.basename(nmap) == "nmap"
        )
    ):
        raise ValueError(f"{str(nmap)[:80]!r} is not 'nmap' or an absolute path to a program named nmap")
    return nmap


def _sequence(values: object, what: str) -> list[object]:
    if isinstance(values, str | bytes | bytearray) or not isinstance(values, Sequence):
        raise ValueError(f"{what} must be a list of strings")
    return list(values)


def _family(value: str) -> int | None:
    """4 or 6 for an address or CIDR block, None for a host name."""
    try:
        return ipaddress.ip_network(value).version
    except ValueError:
        return None


def split_families(targets: Sequence[str]) -> list[list[str]]:
    """Targets in the runs nmap needs: IPv4 addresses with host names, then IPv6 addresses (``-6``).
    Empty groups are left out; the order of the targets is kept inside each group."""
    groups: list[list[str]] = [[], []]
    for target in targets:
        groups[_family(target) == 6].append(target)
    return [group for group in groups if group]


def _targets(values: object) -> tuple[list[str], bool]:
    """The validated targets, and whether they are IPv6 addresses (nmap's -6)."""
    targets = _sequence(values, "targets")
    if not targets:
        raise ValueError("no target")
    if len(targets) > MAX_TARGETS:
        raise ValueError(f"{len(targets)} targets; at most {MAX_TARGETS} per run")
    seen: set[str] = set()
    total = 0
    for target in targets:
        normal = parse_target(target, MAX_ADDRESSES)  # type: ignore[arg-type]
        if normal != target:
            raise TargetError(target, "invalid")  # only normal forms, exactly as stored
        if normal in seen:
            raise TargetError(target, "duplicate")
        seen.add(normal)
        if _family(normal) is not None:
            network = ipaddress.ip_network(normal)
            if any(network.version == bad.version and network.overlaps(bad) for bad in _FORBIDDEN):  # type: ignore[arg-type]
                raise TargetError(target, "invalid")
        total += address_count(normal)
    if total > MAX_ADDRESSES:
        raise ValueError(f"the targets cover {total} addresses; at most {MAX_ADDRESSES} per run")
    families = {_family(target) for target in targets} - {None}
    if families == {4, 6}:
        raise ValueError("IPv4 and IPv6 addresses need separate runs (see split_families)")
    return targets, families == {6}  # type: ignore[return-value]


def _tcp_ports(values: object) -> set[int]:
    numbers: set[int] = set()
    for port in _sequence(values, "ports"):
        normal = parse_port(port)  # type: ignore[arg-type]
        if normal != port:
            raise TargetError(port, "invalid")
        number, protocol = normal.split("/")
        if protocol == "tcp":
            numbers.add(int(number))
    return numbers


def _options(profile: Profile, tcp: set[int]) -> tuple[str, ...]:
    """The profile's options, its port choice widened to the expected TCP ports when needed."""
    options = profile.options
    listed = _LISTED.get(profile.code)
    if listed is None:
        return options
    usual = port_set(listed)
    if tcp <= usual:
        return options
    spec = ("-p", "T:" + _ranges(usual | tcp))
    if "--top-ports" in options:
        at = options.index("--top-ports")
        return options[:at] + spec + options[at + 2 :]
    at = options.index("--host-timeout")
    return options[:at] + spec + options[at:]


def build_argv(
    profile: str,
    targets: Sequence[str],
    *,
    ports: Sequence[str] = (),
    max_rate: int | None = None,
    nmap: str = "nmap",
) -> list[str]:
    """The nmap argument vector of a profile for these targets; raises ValueError (TargetError for a
    bad target or port) on anything but normal forms, known profiles and sane limits."""
    if not isinstance(profile, str) or profile not in PROFILES:
        raise ValueError(f"unknown profile {str(profile)[:40]!r}")
    program = check_program(nmap)
    checked, ipv6 = _targets(targets)
    tcp = _tcp_ports(ports)
    if max_rate is not None and (
        isinstance(max_rate, bool) or not isinstance(max_rate, int) or not 1 <= max_rate <= MAX_RATE
    ):
        raise ValueError(f"max_rate must be an integer from 1 to {MAX_RATE}")
    argv = [program, *_COMMON, "-T3" if max_rate else "-T4", *_options(PROFILES[profile], tcp)]
    if max_rate:
        argv += ["--max-rate", str(max_rate)]
    if ipv6:
        argv.append("-6")
    return [*argv, "--", *checked]


def _value_after(head: list[str], option: str) -> str | None:
    if option not in head:
        return None
    at = head.index(option)
    if at + 1 >= len(head):
        raise ValueError(f"{option} without a value")
    return head[at + 1]


def check_argv(argv: Sequence[str]) -> None:
    """Raise ValueError unless ``argv`` is exactly a vector :func:`build_argv` makes.

    The parameters are read back from the vector (profile, ports, rate, targets) and the vector is
    built again from them: anything that differs by one character is refused.
    """
    vector = _sequence(argv, "argv")
    if not all(isinstance(item, str) for item in vector) or "--" not in vector:
        raise ValueError("not an nmap command line this application builds")
    split = vector.index("--")
    head, targets = vector[:split], vector[split + 1 :]
    rate = _value_after(head, "--max-rate")  # type: ignore[arg-type]
    if rate is not None and not _RATE.fullmatch(rate):
        raise ValueError("not an nmap command line this application builds")
    spec = _value_after(head, "-p")  # type: ignore[arg-type]
    ports = [f"{number}/tcp" for number in sorted(port_set(spec[2:]))] if spec and spec.startswith("T:") else []
    error: ValueError | None = None
    # Only the profiles whose fixed options all appear (quick's --top-ports may have become -p).
    present = set(head)
    for code in [
        code for code, profile in PROFILES.items() if set(profile.options) - {"--top-ports", "100"} <= present
    ]:
        try:
            built = build_argv(
                code,
                targets,  # type: ignore[arg-type]
                ports=ports,
                max_rate=int(rate) if rate else None,
                nmap=head[0] if head else "",  # type: ignore[arg-type]
            )
        except ValueError as refused:
            error = refused
            continue
        if built == vector:
            return
    raise ValueError(f"not an nmap command line this application builds{f': {error}' if error else ''}") from error
