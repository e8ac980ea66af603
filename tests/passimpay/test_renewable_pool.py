"""A pool that times out is replaced: later calls go out on a fresh client, held calls finish."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI

from payflow.http_server import serve
from providers.renewable_pool import RenewablePool


async def test_a_pool_timeout_renews_the_client() -> None:
    held = asyncio.Event()
    entered = asyncio.Event()
    app = FastAPI()

    @app.get("/slow")
    async def slow() -> dict[str, str]:
        entered.set()
        await held.wait()
        return {"slow": "done"}

    @app.get("/fast")
    async def fast() -> dict[str, str]:
        return {"fast": "done"}

    async with serve(app) as server:
        pool = RenewablePool(
            lambda: httpx.AsyncClient(
                base_url=server.url,
                limits=httpx.Limits(max_connections=1),
                timeout=httpx.Timeout(10.0, pool=0.2),
            ),
            name="test",
        )
        clients: list[httpx.AsyncClient] = []

        async def held_call() -> httpx.Response:
            async with pool.client() as http:
                clients.append(http)
                return await http.get("/slow")

        holding = asyncio.create_task(held_call())  # takes the only connection
        await asyncio.wait_for(entered.wait(), 10)
        with pytest.raises(httpx.PoolTimeout):
            async with pool.client() as http:
                await http.get("/fast")
        assert pool.replaced == 1
        async with pool.client() as http:
            assert (await http.get("/fast")).json() == {"fast": "done"}  # a fresh pool
        held.set()
        assert (await asyncio.wait_for(holding, 10)).json() == {"slow": "done"}
        assert clients[0].is_closed  # the jammed client closed once its last call ended
        await pool.aclose()
