"""Who sent a request: the peer, or the client a trusted proxy says it forwarded.

`X-Forwarded-For` is read only when the direct peer is one of our proxies; then the right-most
address that is not a trusted proxy is the client (anything left of it was written by the
client itself and proves nothing).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Addresses or CIDR blocks (`203.0.113.7`, `10.0.0.0/8`, `::1`); ValueError on garbage."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address or CIDR block") from None
    return tuple(networks)


def parse_address(value: str) -> IPAddress | None:
    """One address as sent (IPv4-mapped IPv6 read as IPv4); None when it is no address."""
    text = value.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "203.0.113.7:443"
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def within(address: IPAddress | None, networks: Iterable[IPNetwork]) -> bool:
    """Whether `address` is in any of `networks` (never for an unreadable address)."""
    return address is not None and any(address in network for network in networks)


def client_address(
    peer: str | None, forwarded_for: Iterable[str], trusted_proxies: Iterable[IPNetwork]
) -> IPAddress | None:
    """The request's client: the peer unless it is a trusted proxy; then the right-most
    `X-Forwarded-For` entry that is not a trusted proxy (None when that entry is garbage)."""
    proxies = tuple(trusted_proxies)
    address = parse_address(peer or "")
    if not within(address, proxies):
        return address
    hops = [hop for header in forwarded_for for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = parse_address(hop)
        if not within(address, proxies):
            return address
    return address  # every hop was one of our proxies: the left-most of them
