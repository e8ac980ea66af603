"""An httpx client that is replaced when its connection pool jams.

Cancelled requests can leave httpcore's pool believing every connection is in use, for good
(encode/httpcore#1093): every later call then waits for a connection and fails with
`PoolTimeout` while nothing is sent. A `PoolTimeout` therefore retires the client: later calls
get a fresh one, and calls still running on the old one finish before it is closed.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable

import httpx


class RenewablePool:
    """Hands out the current httpx client and renews it after a pool timeout."""

    def __init__(
        self, factory: Callable[[], httpx.AsyncClient], *, name: str, renewable: bool = True
    ) -> None:
        self._factory = factory
        self._name = name
        self._renewable = renewable
        self._http = factory()
        self._retired: set[httpx.AsyncClient] = set()
        self._in_flight: Counter[httpx.AsyncClient] = Counter()
        self.replaced = 0

    @contextlib.asynccontextmanager
    async def client(self) -> AsyncIterator[httpx.AsyncClient]:
        """The current client for one call; a `PoolTimeout` inside renews it."""
        http = self._http
        self._in_flight[http] += 1
        try:
            yield http
        except httpx.PoolTimeout:
            self._replace(http)
            raise
        finally:
            self._in_flight[http] -= 1
            if http in self._retired and self._in_flight[http] <= 0:
                self._retired.discard(http)
                del self._in_flight[http]
                await http.aclose()

    def _replace(self, jammed: httpx.AsyncClient) -> None:
        if jammed is not self._http or not self._renewable:
            return  # another call renewed it already, or the transport is not ours to renew
        self._http = self._factory()
        self.replaced += 1
        self._retired.add(jammed)
        logging.getLogger(__name__).warning("%s connection pool replaced after a jam", self._name)

    async def aclose(self) -> None:
        """Close the current client and every retired one."""
        for http in (self._http, *self._retired):
            await http.aclose()
        self._retired.clear()
