"""Checks run before any Passimpay call, so a bad orderId or address never reaches the provider.

The address table is deliberately generous (it cannot prove an address exists) but catches
obvious garbage: spaces, empty strings, an address of the wrong network family, and a missing
or unexpected destination tag.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from providers.errors import InvalidInput

if TYPE_CHECKING:
    from providers.passimpay.models import Currency

ORDER_ID = re.compile(r"[A-Za-z0-9+/=\-:.,_]{1,64}")
TAG = re.compile(r"[A-Za-z0-9]{1,64}")

_B58 = "1-9A-HJ-NP-Za-km-z"
_BECH32 = "02-9ac-hj-np-z"

FAMILIES: dict[str, re.Pattern[str]] = {
    "BTC": re.compile(rf"[13][{_B58}]{{25,34}}|bc1[{_BECH32}]{{8,87}}"),
    "LTC": re.compile(rf"[LM3][{_B58}]{{25,34}}|ltc1[{_BECH32}]{{8,87}}"),
    "DOGE": re.compile(rf"[DA9][{_B58}]{{25,34}}"),
    "DASH": re.compile(rf"[X7][{_B58}]{{25,34}}"),
    "BCH": re.compile(rf"(bitcoincash:)?[qp][{_BECH32}]{{41}}|[13][{_B58}]{{25,34}}"),
    "TRON": re.compile(rf"T[{_B58}]{{33}}"),
    "XRP": re.compile(rf"r[{_B58}]{{24,34}}"),
    "TON": re.compile(r"[A-Za-z0-9_-]{48}|-?[0-9]:[0-9a-fA-F]{64}"),
    "EVM": re.compile(r"0x[0-9a-fA-F]{40}"),
}
"""Address shape per network family."""

_EVM_NETWORKS = ("ETH", "ERC20", "BEP20", "BSC", "BNB", "POLYGON", "MATIC", "ARBITRUM", "BASE")
NETWORKS: dict[str, str] = {
    "TRC20": "TRON",
    "TRX": "TRON",
    **{name: "EVM" for name in _EVM_NETWORKS},
}
"""Passimpay `platform` names that map to a family other than their own name."""

_GENERIC = re.compile(r"[A-Za-z0-9_-]{16,128}")


def _shown(value: str) -> str:
    """The bad value for an error message, cut short so logs stay readable."""
    return repr(value if len(value) <= 80 else value[:77] + "...")


def validate_order_id(order_id: str) -> str:
    """Return `order_id` if the provider accepts it: 1..64 characters of A-Za-z0-9+/=-:.,_."""
    if not isinstance(order_id, str) or not ORDER_ID.fullmatch(order_id):
        shown = _shown(order_id) if isinstance(order_id, str) else type(order_id).__name__
        raise InvalidInput(f"orderId {shown} must be 1..64 characters of A-Za-z0-9+/=-:.,_")
    return order_id


def address_pattern(currency: Currency) -> re.Pattern[str]:
    """The address shape for a currency's network, or a generic one for networks not listed."""
    for key in (currency.platform.upper(), currency.currency.upper()):
        family = NETWORKS.get(key, key)
        if family in FAMILIES:
            return FAMILIES[family]
    return _GENERIC


def validate_withdraw_address(address_to: str, currency: Currency) -> str:
    """Return `address_to` if it fits the currency's network (`address:tag` on tag networks)."""
    where = f"addressTo {_shown(address_to)} for {currency.currency} ({currency.platform})"
    address = address_to
    if currency.tag:
        address, colon, tag = address_to.rpartition(":")
        if not colon or not TAG.fullmatch(tag):
            raise InvalidInput(f"{where} needs a destination tag as address:tag")
    if not address_pattern(currency).fullmatch(address):
        if not currency.tag and ":" in address:
            raise InvalidInput(f"{where} takes no destination tag")
        raise InvalidInput(f"{where} is not an address of that network")
    return address_to
