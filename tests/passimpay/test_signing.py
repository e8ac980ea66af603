"""Signatures are over the exact bytes sent: the published vector, escaping, real callbacks."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from providers.passimpay import (
    DepositCallback,
    InvalidSignature,
    PassimpayClient,
    WithdrawCallback,
    WithdrawRequest,
    parse_callback,
    signature,
    verify,
)
from providers.passimpay.signing import encode_body
from sandbox.passimpay import PassimpaySandbox

from .conftest import PLATFORM_ID, SECRET, CallbackReceiver

PUBLISHED_BODY = (
    b'{"orderId":"your-transaction-identifier","paymentId":90,"amount":"100.00","platformId":50}'
)
PUBLISHED_SIGNATURE = "d9c592ca61e390a79d6c3e2b410e6c8ee4d081c345d57397de916cee345f930e"


def test_published_check_value() -> None:
    assert signature(50, PUBLISHED_BODY, "your-api-key") == PUBLISHED_SIGNATURE
    assert verify(50, PUBLISHED_BODY, "your-api-key", PUBLISHED_SIGNATURE.upper())


def test_escaped_and_unescaped_slashes_verify_only_as_sent() -> None:
    payload = {"orderId": "a/b", "returnUrl": "https://shop.example/done", "platformId": 50}
    plain = encode_body(payload)
    escaped = encode_body(payload, escape_slashes=True)
    assert b"\\/" in escaped and b"\\/" not in plain
    assert json.loads(plain) == json.loads(escaped)
    plain_sig, escaped_sig = signature(50, plain, SECRET), signature(50, escaped, SECRET)
    assert verify(50, plain, SECRET, plain_sig)
    assert verify(50, escaped, SECRET, escaped_sig)
    assert not verify(50, escaped, SECRET, plain_sig)
    assert not verify(50, plain, SECRET, escaped_sig)


async def test_simulator_callback_verifies_over_raw_body(
    sandbox: PassimpaySandbox, client: PassimpayClient, receiver: CallbackReceiver
) -> None:
    await client.address(70, "h2h/sig-1")
    txhash = await sandbox.deposit("h2h/sig-1", Decimal("12.5"))
    (callback,) = await receiver.wait_for(1)
    assert b"h2h\\/sig-1" in callback.body  # PHP-style escaping, signed as sent
    parsed = parse_callback(
        callback.body, callback.headers["x-signature"], platform_id=PLATFORM_ID, secret=SECRET
    )
    assert isinstance(parsed, DepositCallback)
    assert (parsed.order_id, parsed.txhash, parsed.amount) == ("h2h/sig-1", txhash, Decimal("12.5"))
    assert parsed.confirmations == 1 and parsed.payment_id == 70


async def test_tampered_or_foreign_callbacks_are_rejected(
    sandbox: PassimpaySandbox, client: PassimpayClient, receiver: CallbackReceiver
) -> None:
    await client.address(70, "h2h-sig-2")
    await sandbox.deposit("h2h-sig-2", Decimal("5"))
    (callback,) = await receiver.wait_for(1)
    header = callback.headers["x-signature"]
    tampered = callback.body.replace(b'"amount":"5"', b'"amount":"500"')
    assert tampered != callback.body
    with pytest.raises(InvalidSignature):
        parse_callback(tampered, header, platform_id=PLATFORM_ID, secret=SECRET)
    with pytest.raises(InvalidSignature):
        parse_callback(callback.body, None, platform_id=PLATFORM_ID, secret=SECRET)
    with pytest.raises(InvalidSignature):
        parse_callback(callback.body, header, platform_id=51, secret=SECRET)
    foreign = encode_body({**json.loads(callback.body), "platformId": 51}, escape_slashes=True)
    with pytest.raises(InvalidSignature, match="platformId"):
        parse_callback(
            foreign, signature(50, foreign, SECRET), platform_id=PLATFORM_ID, secret=SECRET
        )


async def test_withdraw_callback_parses_as_withdrawal(
    sandbox: PassimpaySandbox, client: PassimpayClient, receiver: CallbackReceiver
) -> None:
    sandbox.withdraw_callbacks = True
    address = "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8"
    request = WithdrawRequest(
        payment_id=70, address_to=address, amount=Decimal("25"), order_id="wd-cb"
    )
    result = await client.withdraw(request)
    (callback,) = await receiver.wait_for(1)
    parsed = parse_callback(
        callback.body, callback.headers["x-signature"], platform_id=PLATFORM_ID, secret=SECRET
    )
    assert isinstance(parsed, WithdrawCallback)
    assert (parsed.transaction_id, parsed.order_id, parsed.approve) == (
        result.transaction_id,
        "wd-cb",
        1,
    )
    assert parsed.amount == Decimal("25") and parsed.txhash


def test_a_signature_with_non_ascii_characters_is_simply_not_valid() -> None:
    from providers.passimpay.signing import verify

    assert verify(PLATFORM_ID, b"{}", SECRET, "\u00e9" * 64) is False
