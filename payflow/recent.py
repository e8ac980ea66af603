"""A bounded, least-recently-used map, so a hot path can skip a call whose answer it has seen."""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

Key = TypeVar("Key")
Value = TypeVar("Value")


class Recent(Generic[Key, Value]):
    """At most `size` entries; the least recently used goes first. Not thread-safe (one loop)."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self._size = size
        self._items: OrderedDict[Key, Value] = OrderedDict()

    def get(self, key: Key) -> Value | None:
        """The value kept for `key`, now the most recently used; None when not kept."""
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: Key, value: Value) -> None:
        """Keep `value`, dropping the least recently used entry beyond `size`."""
        self._items[key] = value
        self._items.move_to_end(key)
        if len(self._items) > self._size:
            self._items.popitem(last=False)

    def discard(self, key: Key) -> None:
        """Forget `key` (nothing happens when it is not kept)."""
        self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)
