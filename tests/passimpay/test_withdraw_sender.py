"""The withdraw sender over real loopback sockets: what counts as not sent, what as no reply."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import pytest_asyncio

from providers.passimpay.withdraw_sender import NoReply, NotSent, prepare

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
REPLY = (
    b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{"result":1}'
)


class Server:
    """A loopback TCP server that records what it received."""

    def __init__(self, handler: Handler) -> None:
        self.received = bytearray()
        self.connections = 0
        self.finished = asyncio.Event()
        self._handler = handler
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        await self._handler(reader, writer)
        writer.close()
        self.finished.set()

    async def read_request(self, reader: asyncio.StreamReader) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        self.received += head
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        self.received += await reader.readexactly(length)


@pytest_asyncio.fixture(loop_scope="session")
async def serving() -> AsyncIterator[Callable[[Handler], Awaitable[Server]]]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> Server:
        server = Server(handler)
        listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        server.port = listening.sockets[0].getsockname()[1]
        servers.append(listening)
        return server

    yield start
    for listening in servers:
        listening.close()
        await listening.wait_closed()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


BODY = b'{"orderId":"o-1","platformId":50}'


async def test_connect_refused_is_not_sent() -> None:
    request = prepare(f"http://127.0.0.1:{closed_port()}/v2/withdraw", {}, BODY)
    with pytest.raises(NotSent):
        await request.connect(1.0, None)


async def test_a_late_check_writes_nothing(serving: Callable[[Handler], Awaitable[Server]]) -> None:
    async def wait_for_close(reader: asyncio.StreamReader, _: asyncio.StreamWriter) -> None:
        server.received += await reader.read()

    server = await serving(wait_for_close)
    request = prepare(f"http://127.0.0.1:{server.port}/v2/withdraw", {"x-signature": "s"}, BODY)
    connection = await request.connect(1.0, None)
    with pytest.raises(NotSent):
        connection.write_before(time.monotonic() - 0.001)
    await connection.aclose()
    await asyncio.wait_for(server.finished.wait(), 5)  # the server saw the connection close
    assert not connection.written and bytes(server.received) == b""


async def test_written_then_answered(serving: Callable[[Handler], Awaitable[Server]]) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(REPLY)
        await writer.drain()

    server = await serving(answer)
    request = prepare(f"http://127.0.0.1:{server.port}/v2/withdraw", {"x-signature": "abc"}, BODY)
    connection = await request.connect(1.0, None)
    connection.write_before(time.monotonic() + 5)
    status, content = await connection.reply(5)
    await connection.aclose()
    assert status == 200 and content == b'{"result":1}'
    assert bytes(server.received).startswith(b"POST /v2/withdraw HTTP/1.1\r\n")
    assert b"x-signature: abc" in bytes(server.received) and bytes(server.received).endswith(BODY)


@pytest.mark.parametrize("behaviour", ["close", "silent"])
async def test_written_without_reply_is_no_reply(
    serving: Callable[[Handler], Awaitable[Server]], behaviour: str
) -> None:
    release = asyncio.Event()

    async def no_answer(reader: asyncio.StreamReader, _: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        if behaviour == "silent":
            await release.wait()

    server = await serving(no_answer)
    request = prepare(f"http://127.0.0.1:{server.port}/v2/withdraw", {}, BODY)
    connection = await request.connect(1.0, None)
    connection.write_before(time.monotonic() + 5)
    with pytest.raises(NoReply):
        await connection.reply(0.5)
    release.set()
    await connection.aclose()
    assert connection.written and bytes(server.received).endswith(BODY)
