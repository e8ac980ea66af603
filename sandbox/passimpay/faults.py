"""Fault injection for the Passimpay simulator: failing endpoints, unruly callbacks, lagging status.

`times=None` means "until `clear()`". Endpoint paths are the provider's, e.g. `/v2/withdraw`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args

FaultMode = Literal["500", "503", "timeout", "lose_response", "hang"]
AmountPaidUnit = Literal["fiat", "coin"]
CurrencyListStyle = Literal["documented", "variant"]
UtxoCallbacks = Literal["first_and_second", "single_higher", "lose_second"]
ExpiryCallback = Literal["none", "new_txhash", "repeat"]
LateAmountPaid = Literal["counted", "frozen"]
CallbackNumbers = Literal["strings", "numbers"]
AddressStatusMode = Literal["final", "seen", "fiat", "none"]


@dataclass(frozen=True)
class Fault:
    """What to do to one request: fail it before, or commit it and lose the reply after."""

    mode: FaultMode
    delay: float = 0.0


@dataclass
class _Planned:
    fault: Fault
    left: int


@dataclass
class _Budget:
    """How many more callbacks a callback fault applies to."""

    left: float = 0

    def take(self) -> bool:
        if self.left <= 0:
            return False
        self.left -= 1
        return True


def _path(endpoint_path: str) -> str:
    return "/" + endpoint_path.lstrip("/")


class PassimpayFaults:
    """Faults to apply next; the simulator consults this on every request and callback."""

    def __init__(self) -> None:
        self.on_release: Callable[[], None] | None = None
        self.clear()

    def clear(self) -> None:
        """Back to a healthy provider; held callbacks are released (newest first)."""
        self._planned: dict[str, list[_Planned]] = {}
        self._ratios: dict[str, tuple[float, random.Random]] = {}
        self._drop = _Budget()
        self._duplicate = _Budget()
        self.callback_delay = 0.0
        self.lag = 0.0
        self._withdrawal_failures: dict[str | None, str] = {}
        self._clear_deposit_variants()
        self._set_reorder(False)

    def fail_next(
        self, endpoint_path: str, mode: FaultMode, times: int = 1, delay: float = 5.0
    ) -> None:
        """Fail the next `times` calls: 500/503 at once, `timeout` after `delay` seconds (504,
        nothing done), `lose_response` after committing the operation (502, not JSON), `hang`
        after committing it, answering only after `delay` seconds (504)."""
        if mode not in get_args(FaultMode):
            raise ValueError(f"mode {mode!r} is not one of {get_args(FaultMode)}")
        planned = _Planned(Fault(mode, delay), times)
        self._planned.setdefault(_path(endpoint_path), []).append(planned)

    def lose_response_ratio(self, endpoint_path: str, ratio: float, seed: int = 0) -> None:
        """Commit, then lose the reply of this fraction of calls (seeded, so runs repeat)."""
        if not 0 <= ratio <= 1:
            raise ValueError(f"ratio {ratio!r} must be between 0 and 1")
        self._ratios[_path(endpoint_path)] = (ratio, random.Random(seed))

    def drop_callbacks(self, times: int | None = None) -> None:
        """Never deliver the next `times` callbacks."""
        self._drop = _Budget(math.inf if times is None else times)

    def duplicate_callbacks(self, times: int | None = None) -> None:
        """Deliver each of the next `times` callbacks twice."""
        self._duplicate = _Budget(math.inf if times is None else times)

    def delay_callbacks(self, seconds: float) -> None:
        """Wait this long before the first delivery attempt of every callback."""
        self.callback_delay = seconds

    def reorder_callbacks(self, enabled: bool = True) -> None:
        """Hold callbacks while enabled; disabling releases them newest first."""
        self._set_reorder(enabled)

    def status_lag(self, seconds: float) -> None:
        """Status endpoints answer the state as it was `seconds` ago (behind the callbacks)."""
        self.lag = seconds

    def fail_withdrawal(self, order_id: str | None, reason: str = "Withdrawal rejected") -> None:
        """Settle this withdrawal (or, with None, every withdrawal) as failed: approve 2."""
        self._withdrawal_failures[order_id] = reason

    def take(self, endpoint_path: str) -> Fault | None:
        """The fault for this call, if any, using up one planned failure."""
        path = _path(endpoint_path)
        planned = self._planned.get(path)
        if planned:
            head = planned[0]
            head.left -= 1
            if head.left <= 0:
                planned.pop(0)
            return head.fault
        if path in self._ratios:
            ratio, rng = self._ratios[path]
            if rng.random() < ratio:
                return Fault("lose_response")
        return None

    def take_drop(self) -> bool:
        """Whether to drop this callback."""
        return self._drop.take()

    def take_duplicate(self) -> bool:
        """Whether to deliver this callback twice."""
        return self._duplicate.take()

    @property
    def reorder(self) -> bool:
        """Whether callbacks are being held for reversed release."""
        return self._reorder

    def withdrawal_failure(self, order_id: str) -> str | None:
        """The failure reason configured for this withdrawal, if any."""
        return self._withdrawal_failures.get(order_id, self._withdrawal_failures.get(None))

    def _set_reorder(self, enabled: bool) -> None:
        self._reorder = enabled
        if not enabled and self.on_release is not None:
            self.on_release()

    # ---- deposit-side open questions (providers.md section 3): one switch per question -------

    def _clear_deposit_variants(self) -> None:
        self.paid_unit: AmountPaidUnit = "fiat"
        self.currency_style: CurrencyListStyle = "documented"
        self.utxo_mode: UtxoCallbacks = "first_and_second"
        self.utxo_single_confirmations = 3
        self.expiry_callback: ExpiryCallback = "none"
        self.late_paid: LateAmountPaid = "counted"
        self.callback_numbers: CallbackNumbers = "strings"
        self.undocumented = False
        self.address_status: AddressStatusMode = "final"

    def amount_paid_unit(self, unit: AmountPaidUnit) -> None:
        """`amountPaid` of orderstatus in the invoice's fiat, or in the coin paid last (`currency`
        then names the coin, and only that coin's payments are summed)."""
        self.paid_unit = _choice(unit, AmountPaidUnit)

    def currency_list(self, style: CurrencyListStyle) -> None:
        """`/v2/currencies` items as documented, or the variant spellings: `network`,
        `rate_usd`, `minDep`, no `tag`, ids as strings, whole numbers as JSON numbers."""
        self.currency_style = _choice(style, CurrencyListStyle)

    def utxo_callbacks(self, mode: UtxoCallbacks, confirmations: int = 3) -> None:
        """UTXO deposits called back at 1 and 2 confirmations, once at `confirmations`, or at 1
        with the second callback lost (the provider still confirms the deposit)."""
        self.utxo_mode = _choice(mode, UtxoCallbacks)
        if confirmations < 1:
            raise ValueError(f"confirmations {confirmations!r} must be at least 1")
        self.utxo_single_confirmations = confirmations

    def partial_expiry_callback(self, mode: ExpiryCallback) -> None:
        """When a partially paid invoice expires: no callback, a callback with the amount received
        under a new txhash, or a repeat of the partial payment's txhash and confirmations."""
        self.expiry_callback = _choice(mode, ExpiryCallback)

    def late_amount_paid(self, mode: LateAmountPaid) -> None:
        """After an invoice ended, orderstatus `amountPaid` counts coins that arrived late
        (`counted`) or stops moving (`frozen`)."""
        self.late_paid = _choice(mode, LateAmountPaid)

    def callback_amounts(self, style: CallbackNumbers) -> None:
        """Deposit callbacks carry `amount` as a decimal string (documented) or a JSON number."""
        self.callback_numbers = _choice(style, CallbackNumbers)

    def undocumented_status(self, enabled: bool = True) -> None:
        """Status values the documentation does not list: orderstatus `status` "processing",
        withdrawstatus `approve` 3."""
        self.undocumented = enabled

    def address_orderstatus(self, mode: AddressStatusMode) -> None:
        """Orderstatus by an H2H address's orderId: `amountPaid` in the coin counting deposits once
        final (`final`) or once seen (`seen`), in USD once final (`fiat`), or no answer for H2H
        orders at all (`none`: "Order not found")."""
        self.address_status = _choice(mode, AddressStatusMode)


def _choice(value: str, allowed: object) -> Any:
    """`value` if it is one of the Literal's values, else a ValueError naming them."""
    options = get_args(allowed)
    if value not in options:
        raise ValueError(f"{value!r} is not one of {options}")
    return value
