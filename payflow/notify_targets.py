"""Where merchant events may be sent: a request's own `notify_url` must not make payflow call its
own network (no loopback, link-local, private or reserved address; https in production), checked
at the door and again, after DNS resolution, at every delivery, which connects to the very
address it vetted (a name that resolves elsewhere a second later is not followed)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from payflow.settings import PayflowSettings

LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


class UnsafeNotifyUrl(ValueError):
    """A notify_url payflow will not call; the message names the rule, never what a name
    resolved to."""


@dataclass(frozen=True)
class Target:
    """A vetted delivery: the URL to connect to (the address itself) and the name it stands for
    (Host header and TLS server name)."""

    url: str
    host: str
    host_header: str | None = None
    """The original `host[:port]`, when `url` names the vetted address instead."""


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether an address is on the public internet (not loopback, private, link-local, shared,
    multicast, reserved or unspecified; an IPv4-mapped IPv6 address counts as its IPv4)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


@dataclass(frozen=True)
class NotifyPolicy:
    """What a per-flow notify_url may name. `private_hosts` (development) allows http and any
    host; `allowed_hosts`, when set, is the only hosts allowed."""

    private_hosts: bool = False
    allowed_hosts: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(cls, private_hosts: bool, allowed_hosts: Iterable[str] = ()) -> NotifyPolicy:
        return cls(private_hosts, frozenset(h.strip().lower() for h in allowed_hosts if h))

    @classmethod
    def configured(cls, settings: PayflowSettings) -> NotifyPolicy:
        """The policy the settings name (the worker and the gateway hold the same one)."""
        return cls.of(settings.notify_private_hosts, settings.notify_allowed_hosts)

    def check(self, url: str) -> None:
        """The rules that need no DNS: scheme, allow-list, literal addresses and local names."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if not host:
            raise UnsafeNotifyUrl("notify_url must name a host")
        if parts.username or parts.password:
            raise UnsafeNotifyUrl("notify_url must not carry credentials")
        if self.allowed_hosts and host not in self.allowed_hosts:
            raise UnsafeNotifyUrl("notify_url's host is not in PAYFLOW_NOTIFY_ALLOWED_HOSTS")
        if self.private_hosts:
            return
        if parts.scheme != "https":
            raise UnsafeNotifyUrl("notify_url must be https")
        literal = _address(host)
        if (
            host in LOCAL_NAMES
            or host.endswith(".localhost")
            or (literal is not None and not is_public(literal))
        ):
            raise UnsafeNotifyUrl("notify_url must name a public host")

    async def target(self, url: str) -> Target:
        """Check `url`, resolve its host and return where to connect: every address the name
        resolves to must be public (unless private hosts are allowed)."""
        self.check(url)
        parts = urlsplit(url)
        host = parts.hostname or ""
        if self.private_hosts or _address(host) is not None:
            return Target(url=url, host=host)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            found = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except OSError:
            raise UnsafeNotifyUrl("notify_url's host does not resolve") from None
        addresses = [ipaddress.ip_address(info[4][0]) for info in found]
        if not addresses or not all(is_public(address) for address in addresses):
            raise UnsafeNotifyUrl("notify_url must name a public host")
        pinned = str(addresses[0])
        netloc = f"[{pinned}]" if ":" in pinned else pinned
        if parts.port is not None:
            netloc += f":{parts.port}"
        original = host if parts.port is None else f"{host}:{parts.port}"
        return Target(
            url=urlunsplit(parts._replace(netloc=netloc)), host=host, host_header=original
        )
