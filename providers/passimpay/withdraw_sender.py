"""One `/v2/withdraw` request whose bytes leave only after the caller's last check.

httpx decides by itself when to connect, when to build and when to write. The withdraw limit
needs more: the request built and signed and its connection open *before* the last check, and
nothing after that check but handing the bytes to the kernel. h11 frames the request and parses
the reply; the connection is a plain asyncio stream (TLS for https).

Failures are split by what left this process:
- `NotSent`: nothing was written (connect refused or timed out, TLS failed, the check failed);
- `NoReply`: the request was written, no complete reply came back (timeout, reset): it may
  have reached the provider at any moment up to now.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import h11

MAX_REPLY_BYTES = 1_000_000


class NotSent(Exception):
    """Nothing of the request left this process."""


class NoReply(Exception):
    """The request was written but no complete reply came back."""


@dataclass(frozen=True)
class PreparedRequest:
    """A signed request with its body serialised once; framed per connection."""

    url: str
    head: h11.Request
    body: bytes

    async def connect(self, timeout: float, tls: ssl.SSLContext | None) -> OpenRequest:
        """Open the connection now, so the later write is the only thing left to do."""
        parts = urlsplit(self.url)
        secure = parts.scheme == "https"
        port = parts.port or (443 if secure else 80)
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    parts.hostname,
                    port,
                    ssl=(tls or ssl.create_default_context()) if secure else None,
                ),
                timeout,
            )
        except (OSError, TimeoutError, ssl.SSLError) as error:
            raise NotSent(f"connect failed ({type(error).__name__})") from None
        return OpenRequest(self, reader, writer)


def prepare(url: str, headers: dict[str, str], body: bytes) -> PreparedRequest:
    """Frame a POST of exactly `body` (one request per connection, then closed)."""
    parts = urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += f"?{parts.query}"
    fields = [
        ("Host", parts.netloc.rsplit("@", 1)[-1]),
        ("Content-Length", str(len(body))),
        ("Connection", "close"),
        ("User-Agent", "payflow"),
        *headers.items(),
    ]
    return PreparedRequest(url, h11.Request(method="POST", target=target, headers=fields), body)


class OpenRequest:
    """A connected request: write it once (or not at all), then read its reply."""

    def __init__(
        self, prepared: PreparedRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._http = h11.Connection(h11.CLIENT)
        self._payload = b"".join(
            self._http.send(event) or b""
            for event in (prepared.head, h11.Data(data=prepared.body), h11.EndOfMessage())
        )
        self.written = False

    @property
    def usable(self) -> bool:
        """Whether the connection is still open (the server may close an idle one)."""
        return not self._writer.is_closing() and not self._reader.at_eof()

    def write_before(self, deadline: float) -> None:
        """The last check and the write, with nothing between them; NotSent when too late."""
        if not self.usable:
            raise NotSent("the connection closed before the request was written")
        if time.monotonic() >= deadline:
            raise NotSent("the grant ran out before the request was written")
        self._writer.write(self._payload)
        self.written = True

    async def reply(self, timeout: float) -> tuple[int, bytes]:
        """The reply's status and body; NoReply when none came back in time."""
        try:
            return await asyncio.wait_for(self._read(), timeout)
        except (TimeoutError, OSError, h11.ProtocolError, ValueError) as error:
            raise NoReply(f"no reply ({type(error).__name__})") from None

    async def _read(self) -> tuple[int, bytes]:
        await self._writer.drain()
        connection = self._http
        status: int | None = None
        body = bytearray()
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                data = await self._reader.read(65536)
                connection.receive_data(data)
                if not data and status is None:
                    raise ConnectionResetError("closed before a reply")
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_REPLY_BYTES:
                    raise ValueError("reply too large")
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                if status is None:
                    raise ConnectionResetError("closed before a reply")
                return status, bytes(body)

    async def aclose(self) -> None:
        """Close the connection; a request that is not done by now is abandoned."""
        self._writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(self._writer.wait_closed(), 1.0)
