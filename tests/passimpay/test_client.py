"""PassimpayClient against the running simulator: happy paths, error classes, exact amounts."""

from __future__ import annotations

from decimal import Decimal

import pytest

from payflow.http_server import free_port
from providers.errors import InvalidInput, Refused, Transient
from providers.passimpay import (
    CreateOrderRequest,
    Currency,
    NotFound,
    PassimpayClient,
    WithdrawRequest,
    validate_withdraw_address,
)
from sandbox.passimpay import PassimpaySandbox
from sandbox.passimpay.faults import FaultMode

from .conftest import PLATFORM_ID, SECRET, Eventually, approve_is

TRON = "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8"
EVM = "0x52908400098527886E0F7030069857D2E4169EE7"
XRP = "rPEPPER7kfTD9w2To4CQk6UCfuHM9c6GDY"


async def test_currencies_are_typed_and_cached(
    sandbox: PassimpaySandbox, client: PassimpayClient
) -> None:
    listed = await client.currencies()
    by_ticker = {(c.currency, c.platform): c for c in listed}
    btc, xrp = by_ticker[("BTC", "BTC")], by_ticker[("XRP", "XRP")]
    assert isinstance(btc.rate_usd, Decimal) and btc.is_utxo and not btc.tag
    assert xrp.tag and not xrp.is_utxo and xrp.min_deposit == Decimal("1")
    assert {("USDT", "TRC20"), ("USDT", "ERC20"), ("ETH", "ETH"), ("TON", "TON")} <= set(by_ticker)
    assert (await client.currency(80)).currency == "XRP"
    with pytest.raises(InvalidInput, match="999"):
        await client.currency(999)
    assert sandbox.calls["/v2/currencies"] == 1


def test_currency_tolerates_lists_without_tag() -> None:
    listed = {"id": 1, "name": "XRP", "currency": "XRP", "platform": "XRP", "rateUsd": "0.5"}
    assert Currency.model_validate({**listed, "unknown": 1}).tag is True


async def test_balance(client: PassimpayClient) -> None:
    assert (await client.balance()).balance == Decimal("100000.00")


async def test_h2h_addresses_are_stable_and_tagged_where_needed(client: PassimpayClient) -> None:
    btc = await client.address(10, "h2h-1")
    assert btc.destination_tag is None
    assert btc == await client.address(10, "h2h-1")
    xrp = await client.address(80, "h2h-1")
    assert xrp.address.startswith("r") and xrp.destination_tag and xrp.destination_tag.isdigit()
    currency = await client.currency(80)
    validate_withdraw_address(f"{xrp.address}:{xrp.destination_tag}", currency)


async def test_invoice_create_and_status(
    sandbox: PassimpaySandbox, client: PassimpayClient
) -> None:
    request = CreateOrderRequest(order_id="inv-1", amount=Decimal("100"), currencies=[70, 10])
    link = await client.create_order(request)
    assert link.url == f"{sandbox.base_url}/pay/inv-1"
    invoice = sandbox.invoices.by_order["inv-1"]
    assert (invoice.amount, invoice.symbol, invoice.currencies) == (
        Decimal("100.00"),
        "USD",
        (70, 10),
    )
    status = await client.order_status("inv-1")
    assert (status.status, status.amount_paid, status.currency) == ("wait", Decimal("0.00"), "USD")
    v3 = await client.order_status_v3("inv-1")
    assert v3.amount_credited_merchant == Decimal("0.00") and v3.fee_service == Decimal("0.00")


def test_invoice_request_validates_itself() -> None:
    body = CreateOrderRequest(order_id="x", amount=Decimal("5.5"), email="a@b.example").body()
    assert body == {"orderId": "x", "amount": "5.50", "email": "a@b.example"}
    with pytest.raises(ValueError, match="two decimals"):
        CreateOrderRequest(order_id="x", amount=Decimal("1.005"))
    with pytest.raises(ValueError):
        CreateOrderRequest(order_id="x", amount=Decimal("0"))
    with pytest.raises(ValueError, match="orderId"):
        CreateOrderRequest(order_id="bad id", amount=Decimal("1"))


async def test_refused_versus_not_found(client: PassimpayClient) -> None:
    await client.create_order(CreateOrderRequest(order_id="dup-1", amount=Decimal("10")))
    with pytest.raises(Refused) as refused:
        await client.create_order(CreateOrderRequest(order_id="dup-1", amount=Decimal("10")))
    assert not isinstance(refused.value, NotFound) and refused.value.status_code == 400
    with pytest.raises(NotFound, match="Order not found"):
        await client.order_status("missing")
    with pytest.raises(NotFound, match="Withdrawal not found"):
        await client.withdraw_status(order_id="missing")
    with pytest.raises(NotFound):
        await client.withdraw_status(transaction_id="no-such-transaction")


async def test_wrong_secret_is_refused_without_leaking_it(sandbox: PassimpaySandbox) -> None:
    async with PassimpayClient(sandbox.base_url, PLATFORM_ID, "not-the-key") as wrong:
        with pytest.raises(Refused, match="Wrong signature") as refused:
            await wrong.balance()
    assert "not-the-key" not in str(refused.value)


@pytest.mark.parametrize("mode", ["500", "503", "lose_response"])
async def test_server_failures_are_transient(
    sandbox: PassimpaySandbox, client: PassimpayClient, mode: FaultMode
) -> None:
    sandbox.faults.fail_next("/v2/balance", mode)
    with pytest.raises(Transient):
        await client.balance()
    assert (await client.balance()).balance is not None


async def test_timeouts_and_transport_errors_are_transient(sandbox: PassimpaySandbox) -> None:
    sandbox.faults.fail_next("/v2/balance", "timeout", delay=0.3)
    async with PassimpayClient(sandbox.base_url, PLATFORM_ID, SECRET, timeout=0.1) as impatient:
        with pytest.raises(Transient, match="timed out"):
            await impatient.balance()
    async with PassimpayClient(f"http://127.0.0.1:{free_port()}", PLATFORM_ID, SECRET) as nobody:
        with pytest.raises(Transient, match="transport"):
            await nobody.balance()


@pytest.mark.parametrize("order_id", ["x" * 65, "", "has space", "hash#", "ünïcode"])
async def test_order_id_is_validated_before_any_call(
    sandbox: PassimpaySandbox, client: PassimpayClient, order_id: str
) -> None:
    with pytest.raises(InvalidInput, match="orderId"):
        await client.order_status(order_id)
    with pytest.raises(InvalidInput, match="orderId"):
        await client.address(10, order_id)
    with pytest.raises(InvalidInput, match="orderId"):
        await client.withdraw_status(order_id=order_id)
    assert sum(sandbox.calls.values()) == 0


async def test_longest_and_widest_order_id_is_accepted(client: PassimpayClient) -> None:
    order_id = "Az09+/=-:.,_" + "x" * 52
    assert len(order_id) == 64
    assert (await client.address(70, order_id)).address.startswith("T")


@pytest.mark.parametrize(
    ("payment_id", "address_to", "why"),
    [
        (80, XRP, "destination tag"),
        (80, f"{XRP}:", "destination tag"),
        (60, "0x1234", "not an address"),
        (60, EVM[:-1] + "g", "not an address"),
        (71, TRON, "not an address"),
        (70, EVM, "not an address"),
        (10, f"{EVM}:123", "no destination tag"),
        (10, "bc1q w508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "not an address"),
    ],
)
async def test_withdraw_address_is_validated_before_any_call(
    sandbox: PassimpaySandbox, client: PassimpayClient, payment_id: int, address_to: str, why: str
) -> None:
    request = WithdrawRequest(
        payment_id=payment_id, address_to=address_to, amount=Decimal("1"), order_id="wd-bad"
    )
    with pytest.raises(InvalidInput, match=why):
        await client.withdraw(request)
    assert sandbox.calls["/v2/withdraw"] == 0


@pytest.mark.parametrize(
    ("payment_id", "address_to"),
    [
        (10, "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"),
        (10, "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"),
        (20, "LbTjMGN7gELw4KbeyQf6cTCq859hD18guE"),
        (30, "DH5yaieqoZN36fDVciNyRueRGvGLR3mr7L"),
        (40, "XpESxaUmonkq8RaLLp46Brx2K39ggQe226"),
        (50, "bitcoincash:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a"),
        (60, EVM),
        (70, TRON),
        (80, f"{XRP}:12345"),
        (90, "EQDtFpEwcFAEcRe5mLVh2N6C0x-_hJEM7W61_JLnSF74p4q2:memo1"),
    ],
)
async def test_plausible_withdraw_addresses_pass(
    client: PassimpayClient, payment_id: int, address_to: str
) -> None:
    assert validate_withdraw_address(address_to, await client.currency(payment_id)) == address_to


async def test_withdraw_keeps_eighteen_decimals(
    sandbox: PassimpaySandbox, client: PassimpayClient, eventually: Eventually
) -> None:
    amount = Decimal("0.123456789012345678")
    request = WithdrawRequest(payment_id=60, address_to=EVM, amount=amount, order_id="wd-18")
    assert request.body()["amount"] == "0.123456789012345678"
    result = await client.withdraw(request)
    assert (result.amount, result.payment_id, result.address_to) == (amount, 60, EVM)
    pending = await client.withdraw_status(order_id="wd-18")
    assert pending.approve == 0 and pending.txhash is None
    await eventually(lambda: approve_is(sandbox, "wd-18", 1))
    done = await client.withdraw_status(transaction_id=result.transaction_id)
    assert done.approve == 1 and done.amount == amount and done.order_id == "wd-18"
    assert done.txhash and done.txhash.startswith("0x")
    assert done.fee_network is not None and done.fee_service is not None
    assert done.amount_debited == amount + done.fee_network + done.fee_service


async def test_withdraw_status_needs_exactly_one_id(
    sandbox: PassimpaySandbox, client: PassimpayClient
) -> None:
    with pytest.raises(InvalidInput):
        await client.withdraw_status()
    with pytest.raises(InvalidInput):
        await client.withdraw_status(order_id="a", transaction_id="b")
    assert sum(sandbox.calls.values()) == 0
