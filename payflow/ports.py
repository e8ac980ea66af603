"""Check, before anything starts, that the ports payflow will listen on are free, so a taken
one is a single line naming the setting to change rather than a traceback from deep inside."""

from __future__ import annotations

import socket
from collections.abc import Iterable
from dataclasses import dataclass


class PortTaken(RuntimeError):
    """A port payflow needs is in use; the message names the setting that moves it."""


@dataclass(frozen=True)
class Listener:
    """Where one of payflow's servers will listen, and the setting that says so."""

    host: str
    port: int
    setting: str


def is_taken(host: str, port: int) -> bool:
    """Whether binding `host:port` fails now (SO_REUSEADDR, as uvicorn binds: a port left in
    TIME_WAIT by a stopped server is free)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def ensure_free(listeners: Iterable[Listener]) -> None:
    """PortTaken for the first listener whose port is in use."""
    for listener in listeners:
        if listener.port and is_taken(listener.host, listener.port):
            raise PortTaken(
                f"port {listener.port} on {listener.host} is taken: set {listener.setting} "
                "to a free port (or stop what is using it)"
            )
