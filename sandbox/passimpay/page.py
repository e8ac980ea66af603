"""The hosted invoice page: a person pays in full, pays part, or splits across two currencies.

Forms post to `/_sandbox/pay/{orderId}` with `payment_id` and `amount` pairs (amount in the
invoice's symbol; blank means "the rest"). Links are relative so the page works when the
simulator is mounted under a prefix.
"""

from __future__ import annotations

from decimal import Decimal
from html import escape
from string import Template
from urllib.parse import quote

from sandbox.passimpay.currencies import CURRENCIES
from sandbox.passimpay.store import CENT, SimInvoice

_PAGE = Template("""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Passimpay sandbox invoice $order_id</title></head>
<body>
<h1>Pay $amount $symbol</h1>
<p>Invoice <code>$order_id</code>: status <strong id="status">$status</strong>,
paid <span id="paid">$paid</span> $symbol, left <span id="left">$left</span> $symbol.</p>
$forms
</body>
</html>
""")

_FORMS = Template("""<form method="post" action="$action">
<h2>Pay in full</h2>
<select name="payment_id">$options</select>
<input type="hidden" name="amount" value="">
<button type="submit">Pay $left $symbol</button>
</form>
<form method="post" action="$action">
<h2>Pay part</h2>
<select name="payment_id">$options</select>
<input name="amount" value="$half"> $symbol
<button type="submit">Pay part</button>
</form>
<form method="post" action="$action">
<h2>Split across two currencies</h2>
<select name="payment_id">$options</select> <input name="amount" value="$half"> $symbol
<select name="payment_id">$options_second</select> <input name="amount" value=""> (the rest)
<button type="submit">Pay split</button>
</form>
""")


def _options(payment_ids: tuple[int, ...], selected: int) -> str:
    options = []
    for payment_id in payment_ids:
        c = CURRENCIES[payment_id]
        label = f"{c.name} ({c.ticker} {c.platform}) at {c.rate_usd} USD"
        chosen = " selected" if payment_id == selected else ""
        options.append(f'<option value="{payment_id}"{chosen}>{escape(label)}</option>')
    return "".join(options)


def render(invoice: SimInvoice, now: float) -> str:
    """The page as of `now`; payment forms only while the invoice is waiting."""
    paid = invoice.paid(now)
    left = max(invoice.amount - paid, Decimal("0.00"))
    status = invoice.status(now)
    forms = ""
    if status == "wait":
        accepted = invoice.currencies or tuple(CURRENCIES)
        forms = _FORMS.substitute(
            action=escape(f"../_sandbox/pay/{quote(invoice.order_id, safe='')}"),
            options=_options(accepted, accepted[0]),
            options_second=_options(accepted, accepted[min(1, len(accepted) - 1)]),
            left=left,
            half=(left / 2).quantize(CENT),
            symbol=escape(invoice.symbol),
        )
    return _PAGE.substitute(
        order_id=escape(invoice.order_id),
        amount=invoice.amount,
        symbol=escape(invoice.symbol),
        status=status,
        paid=paid,
        left=left,
        forms=forms,
    )
