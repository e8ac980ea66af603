"""The payout checks run before anything is sent: minimum, balance and the maximum payout."""

from __future__ import annotations

from decimal import Decimal

import pytest

from activities.passimpay_withdrawals import check_payout
from providers.errors import InvalidInput
from providers.passimpay import Currency
from state.passimpay_withdrawal_models import WithdrawalRequest, WithdrawLimits

ETH = Currency(id=60, currency="ETH", platform="ETH", rate_usd=Decimal("3000"), tag=False)
NO_RATE = Currency(id=61, currency="NEW", platform="ETH", tag=False)
ADDRESS = "0x52908400098527886E0F7030069857D2E4169EE7"


def request(amount: str, payment_id: int = 60, check_balance: bool = True) -> WithdrawalRequest:
    return WithdrawalRequest(
        order_id="wd-1",
        payment_id=payment_id,
        address_to=ADDRESS,
        amount=Decimal(amount),
        check_balance=check_balance,
    )


def test_balance_is_checked_by_default() -> None:
    assert WithdrawalRequest.model_fields["check_balance"].default is True
    check_payout(request("0.1"), ETH, Decimal("1000"))
    with pytest.raises(InvalidInput, match="exceeds the platform balance"):
        check_payout(request("1"), ETH, Decimal("1000"))
    with pytest.raises(InvalidInput, match="balance could not be read"):
        check_payout(request("0.1"), ETH, None)
    with pytest.raises(InvalidInput, match="no USD rate"):
        check_payout(request("0.1", 61), NO_RATE, Decimal("1000"))


@pytest.mark.parametrize(
    ("limits", "amount", "refusal"),
    [
        (WithdrawLimits(), "0.33", None),  # 990 USD under the 1000 USD default
        (WithdrawLimits(), "0.34", "maximum payout of 1000 USD"),
        (WithdrawLimits(), "1e39", "maximum payout of 1000 USD"),
        (WithdrawLimits(max_by_currency={"eth": Decimal("2")}), "2", None),
        (WithdrawLimits(max_by_currency={"eth": Decimal("2")}), "2.01", "of 2 ETH"),
        (WithdrawLimits(max_by_currency={"ETH": Decimal("9"), "60": Decimal("1")}), "2", "of 1"),
        (WithdrawLimits(max_usd=Decimal(0)), "0.01", "no maximum payout is configured"),
    ],
)
def test_maximum_payout(limits: WithdrawLimits, amount: str, refusal: str | None) -> None:
    payout = request(amount, check_balance=False)
    if refusal is None:
        check_payout(payout, ETH, None, limits)
        return
    with pytest.raises(InvalidInput, match=refusal):
        check_payout(payout, ETH, None, limits)


def test_a_currency_without_rate_needs_its_own_maximum() -> None:
    with pytest.raises(InvalidInput, match="no USD rate and no maximum"):
        check_payout(request("1", 61, check_balance=False), NO_RATE)
    limits = WithdrawLimits(max_by_currency={"NEW": Decimal("5")})
    check_payout(request("5", 61, check_balance=False), NO_RATE, None, limits)
