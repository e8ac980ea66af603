"""The simulator's currency list and fiat rates: the one table every other module reads."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

UTXO_TICKERS = frozenset({"BTC", "LTC", "DASH", "DOGE", "BCH"})


@dataclass(frozen=True)
class SimCurrency:
    """One paymentId: its network family decides address shapes, `tag` needs `address:tag`."""

    id: int
    name: str
    ticker: str
    platform: str
    family: str
    rate_usd: Decimal
    decimals: int
    min_deposit: Decimal
    withdraw_fee: Decimal
    tag: bool = False

    @property
    def utxo(self) -> bool:
        """Deposits are called back twice: at the first and at the second confirmation."""
        return self.ticker in UTXO_TICKERS

    @property
    def quantum(self) -> Decimal:
        """The smallest amount the network can carry."""
        return Decimal(1).scaleb(-self.decimals)

    def listing(self, style: str = "documented") -> dict[str, Any]:
        """This currency as `/v2/currencies` lists it: as documented, or in the variant
        spellings (`network`, `rate_usd`, `minDep`, no `tag`, the id as a string, whole numbers
        as JSON numbers, an unknown field)."""
        if style == "variant":
            return {
                "id": str(self.id),
                "name": self.name,
                "currency": self.ticker,
                "network": self.platform,
                "rate_usd": _number(self.rate_usd),
                "minDep": _number(self.min_deposit),
                "decimals": self.decimals,
            }
        return {
            "id": self.id,
            "name": self.name,
            "currency": self.ticker,
            "platform": self.platform,
            "rateUsd": format(self.rate_usd, "f"),
            "tag": self.tag,
            "minDeposit": format(self.min_deposit, "f"),
        }


def _number(value: Decimal) -> int | str:
    """A whole amount as a JSON number, any other as a decimal string (never a float)."""
    return int(value) if value == value.to_integral_value() else format(value, "f")


D = Decimal
_TABLE = (
    # paymentId, name, ticker, platform, family, rateUsd, decimals, minDeposit, withdraw fee
    SimCurrency(10, "Bitcoin", "BTC", "BTC", "BTC", D("65000.00"), 8, D("0.0001"), D("0.00005")),
    SimCurrency(20, "Litecoin", "LTC", "LTC", "LTC", D("70.00"), 8, D("0.01"), D("0.001")),
    SimCurrency(30, "Dogecoin", "DOGE", "DOGE", "DOGE", D("0.12"), 8, D("10"), D("1")),
    SimCurrency(40, "Dash", "DASH", "DASH", "DASH", D("25.00"), 8, D("0.01"), D("0.001")),
    SimCurrency(50, "Bitcoin Cash", "BCH", "BCH", "BCH", D("350.00"), 8, D("0.001"), D("0.0001")),
    SimCurrency(60, "Ethereum", "ETH", "ETH", "EVM", D("3000.00"), 18, D("0.001"), D("0.0005")),
    SimCurrency(70, "Tether TRC20", "USDT", "TRC20", "TRON", D("1.00"), 6, D("1"), D("1")),
    SimCurrency(71, "Tether ERC20", "USDT", "ERC20", "EVM", D("1.00"), 6, D("5"), D("3")),
    SimCurrency(80, "XRP", "XRP", "XRP", "XRP", D("0.50"), 6, D("1"), D("0.1"), tag=True),
    SimCurrency(90, "Toncoin", "TON", "TON", "TON", D("5.00"), 9, D("0.1"), D("0.05"), tag=True),
)
CURRENCIES: dict[int, SimCurrency] = {c.id: c for c in _TABLE}
"""paymentId -> currency; USDT TRC20 (70) is the default for invoice payments."""

DEFAULT_INVOICE_CURRENCY = 70

FIAT_USD: dict[str, Decimal] = {"USD": Decimal(1), "EUR": Decimal("1.08"), "GBP": Decimal("1.27")}
"""USD per unit of each invoice `symbol` the simulator accepts."""
