"""What payout doubles share: a valid USDT (TRC20) currency, and the provider's answers."""

from __future__ import annotations

from decimal import Decimal

from activities.passimpay_withdrawals import WithdrawAttempt, WithdrawOutcome
from providers.passimpay import WithdrawResult, WithdrawStatus
from state.passimpay_models import CurrencyFacts
from state.passimpay_withdrawal_models import WithdrawalFacts, WithdrawalRequest

TRON = "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8"
TRANSACTION_ID = "tx-1"


def usdt_facts(request: WithdrawalRequest) -> WithdrawalFacts:
    """What validation answers for any payout the doubles are asked about."""
    currency = CurrencyFacts(payment_id=request.payment_id, ticker="USDT", network="TRC20")
    return WithdrawalFacts(currency=currency)


def accepted(attempt: WithdrawAttempt) -> WithdrawOutcome:
    """`/v2/withdraw` took the payout."""
    request = attempt.request
    result = WithdrawResult(
        payment_id=request.payment_id,
        address_to=request.address_to,
        amount=request.amount,
        transaction_id=TRANSACTION_ID,
    )
    return WithdrawOutcome(kind="sent", result=result)


def paid(amount: Decimal) -> WithdrawStatus:
    """`/v2/withdrawstatus` for a payout that was paid."""
    return WithdrawStatus(
        approve=1, transaction_id=TRANSACTION_ID, payment_id=70, address_to=TRON, amount=amount
    )
