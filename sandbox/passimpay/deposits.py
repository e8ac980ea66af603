"""H2H deposit addresses (stable per orderId and currency) and the deposit callback body."""

from __future__ import annotations

from typing import Any

from sandbox.passimpay import addresses
from sandbox.passimpay.currencies import SimCurrency
from sandbox.passimpay.store import SimAddress, SimDeposit


class AddressBook:
    """Addresses handed out per (orderId, paymentId); tag networks share one address per platform
    and tell orders apart by the destination tag, as exchanges do."""

    def __init__(self) -> None:
        self.by_order: dict[tuple[str, int], SimAddress] = {}

    def address(self, platform_id: int, order_id: str, currency: SimCurrency) -> SimAddress:
        """The order's address for this currency, the same on every call."""
        key = (order_id, currency.id)
        if key not in self.by_order:
            seed = f"{platform_id}:{order_id}:{currency.id}"
            if currency.tag:
                address = addresses.address(currency.family, f"{platform_id}:{currency.id}")
                tag: str | None = addresses.destination_tag(seed)
            else:
                address, tag = addresses.address(currency.family, seed), None
            self.by_order[key] = SimAddress(platform_id, order_id, currency, address, tag)
        return self.by_order[key]

    def find(self, order_id: str, payment_id: int | None) -> SimAddress:
        """The address a test deposits to; `payment_id` may be left out when the order has one."""
        found = [
            address
            for (order, pid), address in self.by_order.items()
            if order == order_id and payment_id in (None, pid)
        ]
        if len(found) != 1:
            wanted = f"orderId {order_id!r}" + (f" paymentId {payment_id}" if payment_id else "")
            raise ValueError(f"{wanted} has {len(found)} deposit addresses; name the paymentId")
        return found[0]


def callback_body(deposit: SimDeposit, confirmations: int, kind: str) -> dict[str, Any]:
    """The deposit callback, with the extra `type`/`status` fields clients must ignore."""
    address = deposit.address
    return {
        "platformId": address.platform_id,
        "paymentId": address.currency.id,
        "orderId": address.order_id,
        "amount": format(deposit.amount, "f"),
        "txhash": deposit.txhash,
        "addressFrom": deposit.address_from,
        "addressTo": address.address,
        "confirmations": confirmations,
        "destinationTag": address.tag,
        "type": kind,
        "status": "success",
    }
