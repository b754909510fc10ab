"""Whether scan targets lie inside an authorization's scope and the networks scans may reach.

Pure: the resolver is a parameter (``socket.getaddrinfo`` by default), so tests need no DNS. The
reasons are stable codes the pages translate:

* ``outside_scope``: the authorization does not name the target, nor networks holding it wholly;
* ``outside_allowed``: the target, or an address its name resolves to, lies outside the allowed
  networks (the environment's ceiling);
* ``unresolvable``: a host name with no address, so nothing can be checked.

IPv4-mapped IPv6 addresses and networks (``::ffff:10.0.0.1``) are checked as the IPv4 ones they
reach. Targets and scope entries are ``assets.targets`` normal forms; anything else raises
:class:`assets.targets.TargetError`.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence

from assets.targets import TargetError, parse_target

__all__ = ["REASONS", "resolve", "uncovered"]

REASONS = ("outside_scope", "outside_allowed", "unresolvable")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_MAPPED = ipaddress.ip_network("::ffff:0:0/96")
# parse_target needs a size limit; the size of a scan is bounded elsewhere (settings, profiles).
_ANY_SIZE = 2**128


def _normal(value: str) -> str:
    normal = parse_target(value, _ANY_SIZE)
    if normal != value:
        raise TargetError(value, "invalid")
    return normal


def _network(text: str) -> Network | None:
    """The network of an address or CIDR block, IPv4-mapped ones as IPv4; None for a host name."""
    try:
        network = ipaddress.ip_network(text)
    except ValueError:
        return None
    return _unmapped(network)


def _unmapped(network: Network) -> Network:
    if network.version == 6 and network.subnet_of(_MAPPED):  # type: ignore[arg-type]
        mapped = network.network_address.ipv4_mapped
        return ipaddress.ip_network(f"{mapped}/{network.prefixlen - 96}")
    return network


def _inside(network: Network, networks: Sequence[Network]) -> bool:
    return any(network.version == other.version and network.subnet_of(other) for other in networks)  # type: ignore[arg-type]


def _collapse(networks: Sequence[Network]) -> list[Network]:
    """Adjacent networks merged, so that a block spanning two of them counts as inside."""
    unmapped = [_unmapped(ipaddress.ip_network(network)) for network in networks]
    return [
        *ipaddress.collapse_addresses(n for n in unmapped if n.version == 4),
        *ipaddress.collapse_addresses(n for n in unmapped if n.version == 6),
    ]


def resolve(target: str, *, resolver: Callable = socket.getaddrinfo) -> list[str]:
    """The addresses of a host name (normal forms, in the resolver's order, no duplicates); an address
    or CIDR block gives ``[itself]``; a name that does not resolve gives ``[]``."""
    normal = _normal(target)
    if _network(normal) is not None:
        return [normal]
    try:
        answers = resolver(normal, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):  # socket.gaierror is an OSError
        return []
    addresses: dict[str, None] = {}
    for answer in answers:
        try:
            # A link-local answer may carry a zone ("fe80::1%eth0"): the address is what is checked.
            address = ipaddress.ip_address(str(answer[4][0]).split("%", 1)[0])
        except (ValueError, IndexError, TypeError):
            continue
        addresses.setdefault(str(address))
    return list(addresses)


def uncovered(
    targets: Sequence[str],
    scope: Sequence[str],
    allowed: Sequence[Network],
    *,
    resolver: Callable = socket.getaddrinfo,
) -> list[tuple[str, str]]:
    """``(target, reason)`` for each target an authorization with this ``scope`` does not cover,
    in the targets' order; an empty list means every target may be scanned."""
    scope_names = set()
    scope_networks = []
    for entry in scope:
        network = _network(_normal(entry))
        if network is None:
            scope_names.add(entry)
        else:
            scope_networks.append(network)
    scope_networks = _collapse(scope_networks)
    allowed_networks = _collapse(allowed)
    refused: list[tuple[str, str]] = []
    for target in targets:
        network = _network(_normal(target))
        if network is not None:
            if not _inside(network, scope_networks):
                refused.append((target, "outside_scope"))
            elif not _inside(network, allowed_networks):
                refused.append((target, "outside_allowed"))
            continue
        addresses = [_network(address) for address in resolve(target, resolver=resolver)]
        if not addresses:
            refused.append((target, "unresolvable"))
        elif target not in scope_names and not all(_inside(a, scope_networks) for a in addresses):  # type: ignore[arg-type]
            refused.append((target, "outside_scope"))
        elif not all(_inside(a, allowed_networks) for a in addresses):  # type: ignore[arg-type]
            refused.append((target, "outside_allowed"))
    return refused
