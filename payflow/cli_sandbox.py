"""`payflow sandbox`: act as the customer or the provider on the running sandbox, over its
`/_sandbox` control routes (development only)."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal
from urllib.parse import quote

import httpx
import typer

from payflow.cli_common import EXIT_UNAVAILABLE, JSON_OPTION, fail, print_json, print_table
from payflow.settings import PayflowSettings

app = typer.Typer(
    help="Drive the provider sandboxes (development): decide, pay, deposit, settle, faults.",
    no_args_is_help=True,
)

PATHS = {"paymentassist": "/paymentassist/_sandbox", "passimpay": "/passimpay/_sandbox"}
SandboxProvider = Literal["paymentassist", "passimpay"]


def default_url() -> str:
    """The dev stack's sandbox (`payflow dev`)."""
    settings = PayflowSettings()
    return f"http://{settings.gateway_host}:{settings.sandbox_port}"


class Sandbox:
    """The control routes of one running sandbox; a refusal exits with its detail."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self._http = httpx.Client(base_url=url.rstrip("/"), timeout=timeout)

    def call(
        self,
        method: str,
        provider: SandboxProvider,
        path: str,
        body: object = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        """One control call; its JSON answer."""
        try:
            answer = self._http.request(method, PATHS[provider] + path, json=body, params=params)
        except httpx.HTTPError as error:
            fail(f"unavailable: sandbox at {self._http.base_url}: {error}", EXIT_UNAVAILABLE)
        if answer.is_error:
            fail(f"refused: {answer.status_code} {_detail(answer)}")
        return answer.json()


def _detail(answer: httpx.Response) -> str:
    """The reason a control route gives, whatever shape its error body has."""
    try:
        body = answer.json()
    except ValueError:
        return answer.text[:200]
    if isinstance(body, dict):
        for key in ("detail", "title", "message"):
            if key in body:
                return str(body[key])
    return str(body)[:200]


def _sandbox(ctx: typer.Context) -> Sandbox:
    sandbox = ctx.obj
    assert isinstance(sandbox, Sandbox)
    return sandbox


@app.callback()
def connect_sandbox(
    ctx: typer.Context,
    url: Annotated[
        str | None,
        typer.Option(envvar="PAYFLOW_SANDBOX_URL", help="The sandbox (default: the dev stack's)."),
    ] = None,
) -> None:
    """Where the sandbox runs."""
    ctx.obj = Sandbox(url or default_url())


def _token(sandbox: Sandbox, order_id: str) -> str:
    """The latest application the lender holds for the order."""
    found = sandbox.call("GET", "paymentassist", "/applications", params={"order_id": order_id})
    if not found:
        fail(f"refused: no Payment Assist application for order {order_id}")
    return str(found[-1]["token"])


def _decide(
    ctx: typer.Context, order_id: str, token: str | None, outcome: str, **extra: Any
) -> None:
    sandbox = _sandbox(ctx)
    token = token or _token(sandbox, order_id)
    sandbox.call(
        "POST", "paymentassist", f"/applications/{token}/decide", {"outcome": outcome, **extra}
    )
    typer.echo(f"{outcome}d the application for order {order_id}")


TokenOption = Annotated[
    str | None, typer.Option(help="The application (default: the order's latest).")
]


@app.command()
def approve(
    ctx: typer.Context,
    order_id: Annotated[str, typer.Argument(metavar="ORDER")],
    token: TokenOption = None,
    requires_invoice: Annotated[
        bool, typer.Option(help="The lender will ask for the invoice.")
    ] = False,
) -> None:
    """Payment Assist: the customer is approved (the lender sends its webhook)."""
    _decide(ctx, order_id, token, "approve", requires_invoice=requires_invoice)


@app.command()
def decline(
    ctx: typer.Context,
    order_id: Annotated[str, typer.Argument(metavar="ORDER")],
    token: TokenOption = None,
) -> None:
    """Payment Assist: the customer is declined."""
    _decide(ctx, order_id, token, "decline")


def _part(text: str) -> dict[str, object]:
    """`PAYMENT_ID` or `PAYMENT_ID=AMOUNT`."""
    currency, _, amount = text.partition("=")
    try:
        return {
            "payment_id": int(currency),
            "amount": str(Decimal(amount)) if amount.strip() else None,
        }
    except (ValueError, InvalidOperation):
        raise typer.BadParameter(f"{text!r} is not PAYMENT_ID or PAYMENT_ID=AMOUNT") from None


@app.command()
def pay(
    ctx: typer.Context,
    order_id: Annotated[str, typer.Argument(metavar="ORDER")],
    amount: Annotated[
        Decimal | None,
        typer.Option(help="Part payment in the invoice's symbol (default: all that is left)."),
    ] = None,
    part: Annotated[
        list[str] | None,
        typer.Option(
            help="Split: PAYMENT_ID=AMOUNT, repeated; a part with no amount pays the rest."
        ),
    ] = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Passimpay: pay an invoice as its hosted page does (full, part or split)."""
    parts = [_part(text) for text in part or []] or [
        {"payment_id": None, "amount": None if amount is None else str(amount)}
    ]
    sandbox = _sandbox(ctx)
    paid = [
        {
            **each,
            **sandbox.call("POST", "passimpay", "/invoice-payment", {"order_id": order_id, **each}),
        }
        for each in parts
    ]
    if as_json:
        print_json(paid)
    else:
        print_table(paid, ("payment_id", "amount", "txhash"))


@app.command()
def deposit(
    ctx: typer.Context,
    order_id: Annotated[str, typer.Argument(metavar="ORDER")],
    amount: Annotated[Decimal, typer.Argument(help="In the coin's own units.")],
    payment_id: Annotated[int | None, typer.Option(help="The coin (default: the order's).")] = None,
    txhash: Annotated[str | None, typer.Option(help="Repeat a transaction by its hash.")] = None,
    tag: Annotated[bool, typer.Option(help="Send the destination tag the coin needs.")] = True,
) -> None:
    """Passimpay: coins arrive on chain at the order's address (or invoice)."""
    body = {
        "order_id": order_id,
        "amount": str(amount),
        "payment_id": payment_id,
        "txhash": txhash,
        "with_tag": tag,
    }
    answer = _sandbox(ctx).call("POST", "passimpay", "/deposit", body)
    typer.echo(f"deposited {amount} for order {order_id}: txhash {answer['txhash']}")


@app.command()
def settle(
    ctx: typer.Context,
    order_id: Annotated[str, typer.Argument(metavar="ORDER")],
    outcome: Annotated[Literal["paid", "failed"], typer.Argument()],
    reason: Annotated[str | None, typer.Option(help="Why it failed.")] = None,
) -> None:
    """Passimpay: settle a pending payout now, paid (approve 1) or failed (approve 2)."""
    body = {"order_id": order_id, "approve": 1 if outcome == "paid" else 2, "reason": reason}
    _sandbox(ctx).call("POST", "passimpay", "/settle", body)
    typer.echo(f"payout {order_id} settled {outcome}")


@app.command()
def expire(ctx: typer.Context, order_id: Annotated[str, typer.Argument(metavar="ORDER")]) -> None:
    """Passimpay: end an invoice's lifetime now."""
    _sandbox(ctx).call("POST", "passimpay", f"/expire/{quote(order_id, safe='')}")
    typer.echo(f"invoice {order_id} expired")


def _value(text: str) -> object:
    """A fault argument: JSON when it parses (numbers, true, null), else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


@app.command()
def fault(
    ctx: typer.Context,
    provider: Annotated[SandboxProvider, typer.Argument()],
    name: Annotated[
        str,
        typer.Argument(
            help="paymentassist: fail-next, drop-webhooks, duplicate-webhooks, delay-webhooks, "
            "fail-deposit; passimpay: fail-next, drop-callbacks, status-lag, fail-withdrawal, ..."
        ),
    ],
    arguments: Annotated[
        list[str] | None,
        typer.Argument(metavar="[KEY=VALUE]...", help="e.g. endpoint=status mode=503 times=2"),
    ] = None,
) -> None:
    """Arm a fault (`clear` clears them all)."""
    body: dict[str, object] = {}
    for text in arguments or []:
        key, equals, value = text.partition("=")
        if not equals:
            raise typer.BadParameter(f"{text!r} is not KEY=VALUE")
        body[key.replace("-", "_")] = _value(value)
    sandbox = _sandbox(ctx)
    if provider == "paymentassist":
        if name == "clear":
            sandbox.call("DELETE", provider, "/faults")
        else:
            sandbox.call("POST", provider, f"/faults/{name.replace('_', '-')}", body)
    else:
        sandbox.call("POST", provider, f"/faults/{name.replace('-', '_')}", body)
    typer.echo(f"{provider}: {name} {' '.join(arguments or [])}".rstrip())
