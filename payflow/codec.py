"""Payloads encrypted at rest in Temporal: AES-GCM, the key id in each payload's metadata.

Every payload the client, worker and gateway write (workflow inputs, results, signals, updates,
activity arguments, memo) is sealed before it leaves the process, and so are failure messages
and stack traces (an error may quote what a provider said about a customer); keys rotate by id,
old ones kept for reading. Search attributes are never encoded: they hold ids and statuses only. Payloads without our encoding pass through on decode, so histories recorded
before encryption (and the replay goldens) stay readable.

Each payload sealed for a workflow (the SDK names it in the serialization context: the workflow's
own payloads, its activities', messages sent to it) is bound to that workflow: its id is in
the payload's metadata and in the AEAD's associated data, so a payload copied into another
workflow's history fails to open there (the task fails, nothing is acted on). Payloads sealed
before binding, or where the SDK gives no workflow (the UI's codec endpoint), are bound to
their key id alone and still open.
"""

from __future__ import annotations

import base64
import binascii
import copy
import dataclasses
import os
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    ActivitySerializationContext,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)

from payflow.converter import PAYLOAD_CONVERTER

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
WORKFLOW_ID = "encryption-workflow-id"
"""Metadata: the workflow a payload was sealed for (also in the AEAD's associated data)."""
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


class EncryptionCodec(PayloadCodec, WithSerializationContext):
    """Seal with the active key; open with whichever key the payload names; bound to the
    workflow the SDK's serialization context names, when it names one."""

    def __init__(
        self, keys: Mapping[str, bytes], active: str, *, workflow_id: str | None = None
    ) -> None:
        if active not in keys:
            raise PayloadKeyError(f"the active payload key {active!r} is not among the keys")
        self._keys = dict(keys)
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._active = active
        self._workflow_id = workflow_id

    @property
    def active(self) -> str:
        return self._active

    def with_context(self, context: SerializationContext) -> EncryptionCodec:
        """The same keys, bound to the workflow the context names (if any)."""
        workflow_id = None
        if isinstance(context, WorkflowSerializationContext | ActivitySerializationContext):
            workflow_id = context.workflow_id or None
        if workflow_id == self._workflow_id:
            return self
        bound = copy.copy(self)
        bound._workflow_id = workflow_id
        return bound

    def derived_keys(self, purpose: bytes) -> dict[str, bytes]:
        """A key per payload key for another purpose (HKDF-SHA256), by the same ids."""
        return {
            key_id: HKDF(
                algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=purpose
            ).derive(key)
            for key_id, key in self._keys.items()
        }

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt each whole payload (metadata included), bound to its key id and workflow."""
        key_id = self._active.encode()
        metadata = {"encoding": ENCODING, KEY_ID: key_id}
        if self._workflow_id is not None:
            metadata[WORKFLOW_ID] = self._workflow_id.encode()
        associated = _associated(key_id, metadata.get(WORKFLOW_ID))
        sealed = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            ciphertext = self._ciphers[self._active].encrypt(
                nonce, payload.SerializeToString(), associated
            )
            sealed.append(Payload(metadata=metadata, data=nonce + ciphertext))
        return sealed

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt ours; pass anything else through unchanged. One sealed for another
        workflow than the context's is refused."""
        opened = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                opened.append(payload)
                continue
            key_id = payload.metadata.get(KEY_ID, b"").decode()
            cipher = self._ciphers.get(key_id)
            if cipher is None:
                raise PayloadKeyError(f"no payload key {key_id!r} to open this payload")
            bound = payload.metadata.get(WORKFLOW_ID)
            here = None if self._workflow_id is None else self._workflow_id.encode()
            if bound is not None and here is not None and bound != here:
                raise PayloadKeyError(
                    f"a payload sealed for another workflow reached {self._workflow_id!r}"
                )
            nonce, ciphertext = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
            try:
                plain = cipher.decrypt(nonce, ciphertext, _associated(key_id.encode(), bound))
            except InvalidTag:
                raise PayloadKeyError(f"payload sealed with {key_id!r} failed its check") from None
            opened.append(Payload.FromString(plain))
        return opened


def _associated(key_id: bytes, workflow_id: bytes | None) -> bytes:
    """The AEAD's associated data: the key id, and the workflow when the payload is bound."""
    return key_id if workflow_id is None else key_id + b"\x00" + workflow_id


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
