"""Where payflow's decision keys come from: `PAYFLOW_DECISION_KEYS` in production; in development
a key derived from each payload key (or, with no payload key at all, one made once in the state
dir), so the dev stack, the CLI beside it and the tests need no setting of their own.

A derived key is held by whoever holds the payload keys (the codec server too), so a production
process refuses to start without its own decision keys, as it does without payload keys.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

from pydantic import SecretStr
from temporalio.client import Client
from temporalio.converter import PayloadCodec

from activities.decisions import MIN_KEY_BYTES, DecisionKeyError, DecisionKeys
from payflow.codec import EncryptionCodec
from payflow.settings import PayflowSettings
from state.decision import Proven

DERIVED_PURPOSE = b"payflow operator decisions v1"
DERIVED_PREFIX = "payload:"
"""The id of a key derived from payload key `k` is `payload:k`."""
DEV_KEY_FILE = "decision-key"
DEV_KEY_ID = "dev"

P = TypeVar("P", bound=Proven)


def parse_decision_keys(keys: Mapping[str, SecretStr]) -> dict[str, bytes]:
    """Key id -> raw bytes from base64 settings; a clear error names the bad id."""
    parsed: dict[str, bytes] = {}
    for key_id, encoded in keys.items():
        try:
            raw = base64.b64decode(encoded.get_secret_value(), validate=True)
        except (binascii.Error, ValueError):
            raise DecisionKeyError(f"decision key {key_id!r} is not base64") from None
        if len(raw) < MIN_KEY_BYTES:
            raise DecisionKeyError(f"decision key {key_id!r} must be {MIN_KEY_BYTES}+ bytes")
        parsed[key_id] = raw
    return parsed


def dev_decision_key(state_dir: str | Path) -> dict[str, bytes]:
    """The dev stack's own decision key without payload keys: made once (0600), reused after."""
    path = Path(state_dir) / DEV_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(base64.b64encode(secrets.token_bytes(MIN_KEY_BYTES)).decode())
    return {DEV_KEY_ID: base64.b64decode(path.read_text().strip())}


def decision_keys(
    settings: PayflowSettings | None = None, codec: PayloadCodec | None = None
) -> DecisionKeys:
    """The configured decision keys; else derived from the payload keys of `codec`; else the
    state dir's dev key."""
    settings = settings or PayflowSettings()
    if settings.decision_keys:
        return DecisionKeys(parse_decision_keys(settings.decision_keys), settings.decision_key_id)
    if isinstance(codec, EncryptionCodec):
        derived = codec.derived_keys(DERIVED_PURPOSE)
        keys = {f"{DERIVED_PREFIX}{key_id}": key for key_id, key in derived.items()}
        return DecisionKeys(keys, f"{DERIVED_PREFIX}{codec.active}")
    return DecisionKeys(dev_decision_key(settings.state_dir))


def client_decision_keys(client: Client, settings: PayflowSettings | None = None) -> DecisionKeys:
    """`decision_keys` for a client's payload codec (what the APIs and the worker use)."""
    return decision_keys(settings, client.data_converter.payload_codec)


def decision_key_problems(settings: PayflowSettings) -> list[str]:
    """Why operator decisions could be forged by someone who holds no decision key."""
    if settings.decision_keys:
        parse_decision_keys(settings.decision_keys)  # a bad key fails the start, named
        return []
    return [
        "PAYFLOW_DECISION_KEYS is not set: operator decisions would be proven with a key "
        "derived from the payload keys, which the codec server holds too"
    ]


class DecisionProver:
    """What payflow's APIs prove decisions with: the keys given, else (at the first decision)
    those the settings and the client's payload codec name."""

    def __init__(self, client: Client, keys: DecisionKeys | None = None) -> None:
        self._client = client
        self._keys = keys

    def prove(self, workflow_id: str, message: P) -> P:
        """`message` with its proof for `workflow_id` (dated now, if it is a decision)."""
        if self._keys is None:
            self._keys = client_decision_keys(self._client)
        return self._keys.prove(workflow_id, message)
