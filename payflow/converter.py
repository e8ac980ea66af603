"""The project's payload converter: pydantic, with one type-adapter cache per process.

The SDK builds a payload converter for every workflow run; the stock pydantic converter gives
each its own cache, so every run built its own TypeAdapters again (CPU on every start and
replay, and memory held by every open workflow). Adapters are immutable and thread-safe, so one
shared JSON converter serves every run.
"""

from __future__ import annotations

from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)

SHARED_JSON = PydanticJSONPlainPayloadConverter()


class SharedPydanticPayloadConverter(CompositePayloadConverter):
    """The stock encodings with JSON through the one shared pydantic converter."""

    def __init__(self) -> None:
        super().__init__(
            *(
                SHARED_JSON if isinstance(c, JSONPlainPayloadConverter) else c
                for c in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )


PAYLOAD_CONVERTER = DataConverter(payload_converter_class=SharedPydanticPayloadConverter)
"""The data converter before encryption (see `payflow.codec.data_converter`)."""
