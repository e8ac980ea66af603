"""A TCP front door for the simulator that can refuse connections: requests that never leave.

Endpoint faults (`fail_next`) fail a request after the sandbox received it, so the caller
cannot know whether it acted. Closing the door instead refuses every new connection and cuts
the open ones, exactly what a client sees when the lender is unreachable: nothing was sent.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

_CHUNK = 65_536


class FrontDoor:
    """Relays loopback connections to the sandbox's server while open; refuses them when shut."""

    def __init__(self, upstream_url: str, host: str = "127.0.0.1") -> None:
        parts = urlsplit(upstream_url)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._path = parts.path.rstrip("/")
        self._host = host
        self._port = 0
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self.relayed = 0

    @property
    def url(self) -> str:
        """The sandbox's URL through this door (same path as upstream)."""
        return f"http://{self._host}:{self._port}{self._path}"

    @property
    def is_open(self) -> bool:
        return self._server is not None

    async def open(self) -> None:
        """Listen (again, on the same port once chosen) and relay every connection."""
        if self._server is not None:
            return
        self._server = await asyncio.start_server(
            self._relay, self._host, self._port, reuse_address=True
        )
        self._port = self._server.sockets[0].getsockname()[1]

    async def shut(self) -> None:
        """Stop listening and cut open connections: every new request fails to connect."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if self._server is None:
            client_w.transport.abort()
            return
        try:
            upstream_r, upstream_w = await asyncio.open_connection(*self._upstream)
        except OSError:
            client_w.transport.abort()
            return
        self.relayed += 1
        self._open.update((client_w, upstream_w))
        pipes = {
            asyncio.ensure_future(_pipe(client_r, upstream_w)),
            asyncio.ensure_future(_pipe(upstream_r, client_w)),
        }
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pipe in pipes:
                pipe.cancel()
            for writer in (client_w, upstream_w):
                self._open.discard(writer)
                writer.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy bytes one way until either side closes."""
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while chunk := await reader.read(_CHUNK):
            writer.write(chunk)
            await writer.drain()


@contextlib.asynccontextmanager
async def front_door(upstream_url: str) -> AsyncIterator[FrontDoor]:
    """An open front door to `upstream_url` for the duration of the block."""
    door = FrontDoor(upstream_url)
    await door.open()
    try:
        yield door
    finally:
        await door.shut()
