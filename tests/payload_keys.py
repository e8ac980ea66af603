"""The tests' payload key: the session's client, worker and gateway seal payloads with it."""

from __future__ import annotations

import base64
import json

from pydantic import SecretStr

from payflow.codec import codec_for

PAYLOAD_KEY_ID = "test-2026"
PAYLOAD_KEY = base64.b64encode(b"payflow test payload key 32 byte").decode()
PAYLOAD_KEYS_ENV = json.dumps({PAYLOAD_KEY_ID: PAYLOAD_KEY})
"""What a `python worker.py` the tests start needs to read the tests' payloads."""
CODEC = codec_for({PAYLOAD_KEY_ID: SecretStr(PAYLOAD_KEY)}, PAYLOAD_KEY_ID)
