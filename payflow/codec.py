"""Payloads encrypted at rest in Temporal: AES-GCM, the key id in each payload's metadata.

Every payload the client, worker and gateway write (workflow inputs, results, signals, updates,
activity arguments, memo) is sealed before it leaves the process, and so are failure messages
and stack traces (an error may quote what a provider said about a customer); keys rotate by id,
old ones kept for reading. Search attributes are never encoded: they hold ids and statuses only. Payloads without our encoding pass through on decode, so histories recorded
before encryption (and the replay goldens) stay readable.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

from payflow.converter import PAYLOAD_CONVERTER

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12
KEY_BYTES = 32
DEV_KEY_ID = "dev"
DEV_KEY_FILE = "payload-key"


class PayloadKeyError(ValueError):
    """A payload key is missing, malformed, or not the one a payload was sealed with."""


def parse_keys(keys: Mapping[str, SecretStr]) -> dict[str, bytes]:
    """Key id -> 32 raw bytes, from base64 settings; a clear error names the bad id."""
    parsed: dict[str, bytes] = {}
    for key_id, encoded in keys.items():
        try:
            raw = base64.b64decode(encoded.get_secret_value(), validate=True)
        except (binascii.Error, ValueError):
            raise PayloadKeyError(f"payload key {key_id!r} is not base64") from None
        if len(raw) != KEY_BYTES:
            raise PayloadKeyError(f"payload key {key_id!r} must be {KEY_BYTES} bytes (AES-256)")
        parsed[key_id] = raw
    return parsed


class EncryptionCodec(PayloadCodec):
    """Seal with the active key; open with whichever key the payload names."""

    def __init__(self, keys: Mapping[str, bytes], active: str) -> None:
        if active not in keys:
            raise PayloadKeyError(f"the active payload key {active!r} is not among the keys")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._active = active

    @property
    def active(self) -> str:
        return self._active

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt each whole payload (metadata included), bound to its key id."""
        key_id = self._active.encode()
        sealed = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            ciphertext = self._ciphers[self._active].encrypt(
                nonce, payload.SerializeToString(), key_id
            )
            sealed.append(
                Payload(metadata={"encoding": ENCODING, KEY_ID: key_id}, data=nonce + ciphertext)
            )
        return sealed

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt ours; pass anything else through unchanged."""
        opened = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                opened.append(payload)
                continue
            key_id = payload.metadata.get(KEY_ID, b"").decode()
            cipher = self._ciphers.get(key_id)
            if cipher is None:
                raise PayloadKeyError(f"no payload key {key_id!r} to open this payload")
            nonce, ciphertext = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
            try:
                plain = cipher.decrypt(nonce, ciphertext, key_id.encode())
            except InvalidTag:
                raise PayloadKeyError(f"payload sealed with {key_id!r} failed its check") from None
            opened.append(Payload.FromString(plain))
        return opened


def data_converter(codec: PayloadCodec | None) -> DataConverter:
    """The project's converter (pydantic), sealed by `codec` when there is one: payloads, and
    failures' message and stack trace (moved into an encoded attribute)."""
    if codec is None:
        return PAYLOAD_CONVERTER
    return dataclasses.replace(
        PAYLOAD_CONVERTER,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def dev_key(state_dir: str | Path) -> dict[str, SecretStr]:
    """The dev stack's own key: made once under the state dir (0600), reused after."""
    path = Path(state_dir) / DEV_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode())
    return {DEV_KEY_ID: SecretStr(path.read_text().strip())}


def codec_for(keys: Mapping[str, SecretStr], active: str | None) -> EncryptionCodec | None:
    """The codec the settings ask for; None when no key is configured."""
    if not keys:
        return None
    parsed = parse_keys(keys)
    return EncryptionCodec(parsed, active or next(iter(parsed)))
