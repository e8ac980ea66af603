"""Every answer to the deposit-side open questions (providers.md section 3), simulator and client.

Each switch of the simulator is exercised, and the client must read every variant the same way.
"""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from activities.passimpay import PassimpayActivities
from providers.errors import InvalidInput, Transient
from providers.passimpay import (
    CreateOrderRequest,
    Currency,
    NotFound,
    OrderStatus,
    PassimpayClient,
    UnusableCallback,
    parse_callback,
)
from providers.passimpay.signing import encode_body, signature
from sandbox.passimpay import PassimpaySandbox
from sandbox.passimpay.faults import CurrencyListStyle

from .conftest import PLATFORM_ID, SECRET, CallbackReceiver, deposits

BTC, DOGE, ETH, USDT_TRC20, XRP, TON = 10, 30, 60, 70, 80, 90


# --- /v2/currencies field variants --------------------------------------------------------


@pytest.mark.parametrize("style", ["documented", "variant"])
async def test_currency_list_is_read_alike_in_every_spelling(
    sandbox: PassimpaySandbox, client: PassimpayClient, style: CurrencyListStyle
) -> None:
    sandbox.faults.currency_list(style)
    listed = {c.id: c for c in await client.currencies()}
    assert listed[XRP].tag and listed[TON].tag and not listed[BTC].tag
    assert listed[USDT_TRC20].platform == "TRC20" and listed[BTC].is_utxo
    assert listed[DOGE].min_deposit == Decimal("10") and listed[BTC].min_deposit == Decimal(
        "0.0001"
    )
    assert listed[ETH].rate_usd == Decimal("3000") and listed[DOGE].rate_usd == Decimal("0.12")


def test_currency_items_tolerate_numbers_strings_and_missing_extras() -> None:
    variant = Currency.model_validate(
        {"id": "80", "currency": "XRP", "network": "XRP", "rate_usd": 0.5, "minDep": 1, "x": []}
    )
    assert (variant.id, variant.platform, variant.tag, variant.min_deposit) == (
        80,
        "XRP",
        True,
        Decimal("1"),
    )
    bare = Currency.model_validate({"id": 5, "currency": "TRX", "platform": "TRC20", "tag": None})
    assert bare.tag is False and bare.rate_usd == Decimal(0) and bare.name == ""


def test_currency_without_what_the_flow_needs_fails_loudly() -> None:
    with pytest.raises(ValueError, match="currency"):
        Currency.model_validate({"id": 5, "platform": "TRC20"})


# --- amountPaid unit ----------------------------------------------------------------------


async def test_amount_paid_in_fiat_or_in_the_coin(
    sandbox: PassimpaySandbox, client: PassimpayClient
) -> None:
    await client.create_order(CreateOrderRequest(order_id="unit-1", amount=Decimal("50.00")))
    await sandbox.deposit("unit-1", Decimal("60"), payment_id=DOGE)  # 7.20 USD
    fiat = await client.order_status_v3("unit-1")
    assert (fiat.status, fiat.amount_paid, fiat.currency) == ("wait", Decimal("7.20"), "USD")
    sandbox.faults.amount_paid_unit("coin")
    coin = await client.order_status_v3("unit-1")
    assert (coin.status, coin.amount_paid, coin.currency) == ("wait", Decimal("60"), "DOGE")
    assert coin.amount_credited_merchant == Decimal("59.70000000")


@pytest.mark.parametrize(
    ("reply", "status", "paid"),
    [
        ({"status": "Waiting", "amountPaid": 5, "currency": "USD"}, "wait", Decimal("5")),
        ({"status": "expired", "amountPaid": "", "currency": None}, "error", None),
        ({"status": "paid", "amountPaid": "1.5", "extra": {"a": 1}}, "paid", Decimal("1.5")),
    ],
)
def test_order_status_is_read_leniently(
    reply: dict[str, object], status: str, paid: Decimal | None
) -> None:
    parsed = OrderStatus.model_validate(reply)
    assert (parsed.status, parsed.amount_paid) == (status, paid)


def test_an_unknown_order_status_is_not_guessed() -> None:
    with pytest.raises(ValueError, match="status"):
        OrderStatus.model_validate({"status": "settled?"})


# --- UTXO callbacks -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("first_and_second", [1, 2]), ("single_higher", [3]), ("lose_second", [1])],
)
async def test_utxo_callback_variants(
    sandbox: PassimpaySandbox,
    client: PassimpayClient,
    receiver: CallbackReceiver,
    mode: str,
    expected: list[int],
) -> None:
    sandbox.faults.utxo_callbacks(mode, confirmations=3)  # type: ignore[arg-type]
    await client.address(BTC, f"utxo-{mode}")
    await sandbox.deposit(f"utxo-{mode}", Decimal("0.01"))
    await sandbox.wait_idle()
    assert [c.confirmations for c in deposits(receiver.received)] == expected


# --- number format in callbacks ----------------------------------------------------------


async def test_callback_amounts_as_json_numbers_are_read_exactly(
    sandbox: PassimpaySandbox, client: PassimpayClient, receiver: CallbackReceiver
) -> None:
    sandbox.faults.callback_amounts("numbers")
    await client.address(ETH, "num-1")
    await sandbox.deposit("num-1", Decimal("0.100000000000000001"))  # no float holds this
    await sandbox.wait_idle()
    [received] = receiver.received
    assert b'"amount":0.100000000000000001,' in received.body
    [callback] = deposits(receiver.received)
    assert callback.amount == Decimal("0.100000000000000001")


@pytest.mark.parametrize(
    ("number", "why"),
    [("1E+400", "digits"), ("1E-99999999", "digits"), ("NaN", "decimal string or number")],
)
def test_numbers_no_deposit_can_have_are_refused_unexpanded(number: str, why: str) -> None:
    body = encode_body({"platformId": PLATFORM_ID, "paymentId": ETH, "orderId": "n"})
    body = body[:-1] + f',"amount":{number},"txhash":"0xab","confirmations":1}}'.encode()
    with pytest.raises(UnusableCallback, match=why):
        parse_callback(
            body, signature(PLATFORM_ID, body, SECRET), platform_id=PLATFORM_ID, secret=SECRET
        )


# --- orderstatus by an H2H address's orderId ----------------------------------------------


async def test_address_orderstatus_counts_utxo_deposits_once_final(
    sandbox: PassimpaySandbox, client: PassimpayClient, receiver: CallbackReceiver
) -> None:
    sandbox.faults.utxo_callbacks("lose_second")
    sandbox.confirmation_gap = 3.0  # room to read the status between the two confirmations
    await client.address(BTC, "h2h-final")
    await sandbox.deposit("h2h-final", Decimal("0.01"))
    await receiver.wait_for(1)
    assert (await client.order_status_v3("h2h-final")).amount_paid == Decimal("0")
    await sandbox.wait_idle()  # the second confirmation happened; its callback was lost
    final = await client.order_status_v3("h2h-final")
    assert (final.status, final.amount_paid, final.currency) == ("wait", Decimal("0.01"), "BTC")


async def test_address_orderstatus_other_answers(
    sandbox: PassimpaySandbox, client: PassimpayClient, receiver: CallbackReceiver
) -> None:
    await client.address(BTC, "h2h-other")
    sandbox.faults.address_orderstatus("seen")
    await sandbox.deposit("h2h-other", Decimal("0.02"))
    seen = await client.order_status("h2h-other")
    assert (seen.amount_paid, seen.currency) == (Decimal("0.02"), "BTC")  # before confirmation 2
    await sandbox.wait_idle()
    sandbox.faults.address_orderstatus("fiat")
    fiat = await client.order_status("h2h-other")
    assert (fiat.amount_paid, fiat.currency) == (Decimal("1300.00"), "USD")
    sandbox.faults.address_orderstatus("none")
    with pytest.raises(NotFound):
        await client.order_status("h2h-other")
    with pytest.raises(ValueError, match="one of"):
        sandbox.faults.address_orderstatus("maybe")  # type: ignore[arg-type]


# --- expiry callback of a partially paid invoice ------------------------------------------


async def test_partial_expiry_notice_under_a_new_txhash(
    sandbox: PassimpaySandbox, client: PassimpayClient, receiver: CallbackReceiver
) -> None:
    sandbox.faults.partial_expiry_callback("new_txhash")
    await client.create_order(CreateOrderRequest(order_id="exp-new", amount=Decimal("100.00")))
    first = await sandbox.deposit("exp-new", Decimal("10"), payment_id=USDT_TRC20)
    second = await sandbox.deposit("exp-new", Decimal("15"), payment_id=USDT_TRC20)
    sandbox.expire_invoice("exp-new")
    await sandbox.wait_idle()
    received = deposits(receiver.received)
    [notice] = [c for c in received if c.txhash not in {first, second}]
    assert len(received) == 3 and notice.amount == Decimal("25")
    status = await client.order_status("exp-new")
    assert (status.status, status.amount_paid) == ("error", Decimal("25.00"))  # no new money


async def test_partial_expiry_notice_repeating_the_payment(
    sandbox: PassimpaySandbox, client: PassimpayClient, receiver: CallbackReceiver
) -> None:
    sandbox.faults.partial_expiry_callback("repeat")
    await client.create_order(CreateOrderRequest(order_id="exp-rep", amount=Decimal("100.00")))
    await sandbox.deposit("exp-rep", Decimal("100"), payment_id=DOGE)  # 12.00 USD
    await sandbox.wait_idle()
    sandbox.expire_invoice("exp-rep")
    await sandbox.wait_idle()
    one, two, notice = deposits(receiver.received)
    assert (one.confirmations, two.confirmations) == (1, 2)
    assert (notice.txhash, notice.confirmations, notice.amount) == (two.txhash, 2, two.amount)


async def test_no_notice_when_nothing_was_paid_or_by_default(
    sandbox: PassimpaySandbox, client: PassimpayClient, receiver: CallbackReceiver
) -> None:
    await client.create_order(CreateOrderRequest(order_id="exp-none", amount=Decimal("100.00")))
    await sandbox.deposit("exp-none", Decimal("10"), payment_id=USDT_TRC20)
    sandbox.expire_invoice("exp-none")  # default: no notice
    sandbox.faults.partial_expiry_callback("new_txhash")
    await client.create_order(CreateOrderRequest(order_id="exp-zero", amount=Decimal("100.00")))
    sandbox.expire_invoice("exp-zero")  # nothing paid: nothing to notify
    await sandbox.wait_idle()
    assert len(receiver.received) == 1


def _currencies_reply(items: list[object]) -> httpx.MockTransport:
    """A provider whose `/v2/currencies` lists exactly `items`."""
    body = encode_body({"result": 1, "list": items})
    return httpx.MockTransport(lambda request: httpx.Response(200, content=body))


async def test_one_unreadable_currency_hides_nothing_else() -> None:
    good = {"id": 70, "currency": "USDT", "network": "TRC20", "rate_usd": "1"}
    odd = {"id": "not-a-number", "currency": "???"}
    transport = _currencies_reply([odd, good])
    async with PassimpayClient("http://p.invalid", PLATFORM_ID, SECRET, transport=transport) as c:
        assert [x.id for x in await c.currencies()] == [70]
        assert (await c.currency(70)).platform == "TRC20"
        with pytest.raises(InvalidInput, match="not-a-number|99"):
            await c.currency(99)
    transport = _currencies_reply([odd])
    async with PassimpayClient("http://p.invalid", PLATFORM_ID, SECRET, transport=transport) as c:
        with pytest.raises(Transient, match="currencies"):
            await c.currencies()


@pytest.mark.parametrize("style", ["documented", "variant"])
async def test_address_flow_learns_the_same_currency_facts_from_every_spelling(
    sandbox: PassimpaySandbox, client: PassimpayClient, style: CurrencyListStyle
) -> None:
    sandbox.faults.currency_list(style)
    activities = PassimpayActivities(client)
    xrp, ton, btc = [await activities.currency(pid) for pid in (XRP, TON, BTC)]
    assert (xrp.tag, ton.tag, btc.tag) == (True, True, False)
    assert btc.utxo and not xrp.utxo and xrp.network == "XRP"
