"""Payload encryption on its own: AES-GCM round trips, keys rotate by id, nothing else opens."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.converter import ActivitySerializationContext, WorkflowSerializationContext
from temporalio.exceptions import ApplicationError

from payflow.codec import (
    ENCODING,
    KEY_ID,
    WORKFLOW_ID,
    EncryptionCodec,
    PayloadKeyError,
    codec_for,
    data_converter,
    dev_key,
    parse_keys,
)
from payflow.converter import PAYLOAD_CONVERTER, SHARED_JSON
from state.checkout_models import CheckoutStarted

OLD, NEW = b"o" * 32, b"n" * 32
PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"f_name":"Ada","email":"a@b.co"}')


async def test_a_sealed_payload_hides_its_data_and_opens_again() -> None:
    codec = EncryptionCodec({"k1": OLD}, "k1")
    [sealed] = await codec.encode([PLAIN])
    assert sealed.metadata["encoding"] == ENCODING and sealed.metadata[KEY_ID] == b"k1"
    assert b"Ada" not in sealed.SerializeToString() and b"json/plain" not in sealed.data
    assert await codec.decode([sealed]) == [PLAIN]
    [again] = await codec.encode([PLAIN])
    assert again.data != sealed.data  # a fresh nonce every time


async def test_after_rotation_old_payloads_still_open_and_new_ones_use_the_new_key() -> None:
    [old] = await EncryptionCodec({"k1": OLD}, "k1").encode([PLAIN])
    rotated = EncryptionCodec({"k1": OLD, "k2": NEW}, "k2")
    [new] = await rotated.encode([PLAIN])
    assert new.metadata[KEY_ID] == b"k2"
    assert await rotated.decode([old, new]) == [PLAIN, PLAIN]
    with pytest.raises(PayloadKeyError, match="no payload key 'k1'"):
        await EncryptionCodec({"k2": NEW}, "k2").decode([old])


async def test_plain_payloads_pass_through_and_tampering_is_caught() -> None:
    codec = EncryptionCodec({"k1": OLD}, "k1")
    assert await codec.decode([PLAIN]) == [PLAIN]  # histories from before encryption
    [sealed] = await codec.encode([PLAIN])
    flipped = bytearray(sealed.data)
    flipped[-1] ^= 1
    forged = Payload(metadata=dict(sealed.metadata), data=bytes(flipped))
    with pytest.raises(PayloadKeyError, match="failed its check"):
        await codec.decode([forged])
    relabelled = Payload(metadata={**sealed.metadata, KEY_ID: b"k2"}, data=sealed.data)
    with pytest.raises(PayloadKeyError):
        await EncryptionCodec({"k1": OLD, "k2": OLD}, "k1").decode([relabelled])


def test_bad_keys_are_refused_with_their_id() -> None:
    with pytest.raises(PayloadKeyError, match="'short' must be 32 bytes"):
        parse_keys({"short": SecretStr(base64.b64encode(b"x" * 16).decode())})
    with pytest.raises(PayloadKeyError, match="'junk' is not base64"):
        parse_keys({"junk": SecretStr("not base64 !")})
    with pytest.raises(PayloadKeyError, match="active payload key 'k9'"):
        codec_for({"k1": SecretStr(base64.b64encode(OLD).decode())}, "k9")
    assert codec_for({}, None) is None


def test_the_dev_key_is_made_once_and_kept_private(tmp_path: Path) -> None:
    first = dev_key(tmp_path)
    assert dev_key(tmp_path) == first
    key_file = next(tmp_path.iterdir())
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert codec_for(first, None) is not None


async def test_failure_messages_and_stack_traces_are_sealed_too() -> None:
    converter = data_converter(EncryptionCodec({"k1": OLD}, "k1"))
    try:
        raise ApplicationError("the lender says Ada's e-mail a@b.co is taken", type="Refused")
    except ApplicationError as raised:
        failure = Failure()
        await converter.encode_failure(raised, failure)
    stored = failure.SerializeToString()
    assert b"Ada" not in stored and b"a@b.co" not in stored and b"raise" not in stored
    assert failure.application_failure_info.type == "Refused"  # retry rules still see the type
    opened = await converter.decode_failure(failure)
    assert isinstance(opened, ApplicationError) and "a@b.co" in opened.message
    assert data_converter(None) is PAYLOAD_CONVERTER


def test_every_run_shares_one_type_adapter_cache() -> None:
    """Each workflow run gets its own payload converter; their adapters must be built once."""
    first = PAYLOAD_CONVERTER.payload_converter_class()
    second = PAYLOAD_CONVERTER.payload_converter_class()
    assert first is not second
    payload = first.to_payloads([CheckoutStarted(order_id="o-1", token="t", url="u", status="s")])
    for converter in (first, second):
        (view,) = converter.from_payloads(payload, [CheckoutStarted])
        assert view == CheckoutStarted(order_id="o-1", token="t", url="u", status="s")
    assert SHARED_JSON._type_adapter.cache_info().hits >= 1


def _for(codec: EncryptionCodec, workflow_id: str) -> EncryptionCodec:
    context = WorkflowSerializationContext(namespace="default", workflow_id=workflow_id)
    return codec.with_context(context)


async def test_a_payload_sealed_for_one_workflow_never_opens_in_another() -> None:
    codec = EncryptionCodec({"k1": OLD}, "k1")
    [sealed] = await _for(codec, "passimpay-withdrawal:a").encode([PLAIN])
    assert sealed.metadata[WORKFLOW_ID] == b"passimpay-withdrawal:a"
    assert await _for(codec, "passimpay-withdrawal:a").decode([sealed]) == [PLAIN]
    activity = ActivitySerializationContext(
        namespace="default",
        activity_id="1",
        activity_type="t",
        activity_task_queue="q",
        workflow_id="passimpay-withdrawal:a",
        workflow_type="PassimpayWithdrawal",
        is_local=False,
    )
    assert await codec.with_context(activity).decode([sealed]) == [PLAIN]  # its activities
    assert await codec.decode([sealed]) == [PLAIN]  # the UI's codec endpoint: no context
    with pytest.raises(PayloadKeyError, match="sealed for another workflow"):
        await _for(codec, "passimpay-withdrawal:b").decode([sealed])
    relabelled = Payload(
        metadata={**sealed.metadata, WORKFLOW_ID: b"passimpay-withdrawal:b"}, data=sealed.data
    )
    with pytest.raises(PayloadKeyError, match="failed its check"):
        await _for(codec, "passimpay-withdrawal:b").decode([relabelled])
    [unbound] = await codec.encode([PLAIN])  # sealed before binding (or by the codec endpoint)
    assert WORKFLOW_ID not in unbound.metadata
    assert await _for(codec, "passimpay-withdrawal:b").decode([unbound]) == [PLAIN]


async def test_the_worker_binds_what_it_seals_to_its_workflow() -> None:
    converter = data_converter(EncryptionCodec({"k1": OLD}, "k1"))
    bound = converter.with_context(
        WorkflowSerializationContext(namespace="default", workflow_id="wf-1")
    )
    [payload] = await bound.encode(["hello"])
    assert payload.metadata[WORKFLOW_ID] == b"wf-1"
    assert await bound.decode([payload]) == ["hello"]
