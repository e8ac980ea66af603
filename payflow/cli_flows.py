"""`payflow flows`: find payment flows, read one, and give the operator's answer it waits for."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

import typer
from pydantic import BaseModel, ValidationError

from payflow.cli_common import (
    JSON_OPTION,
    fail,
    operator_flows,
    print_json,
    print_table,
    refusals,
)
from payflow.flows import FlowState, Provider, list_flows
from state.checkout_models import OperatorResolution
from state.passimpay_models import DepositResolution
from state.passimpay_withdrawal_models import WithdrawalResolution

app = typer.Typer(help="Find, read and resolve payment flows.", no_args_is_help=True)

LIST_COLUMNS = ("order_id", "kind", "provider", "status", "needs_attention", "execution")
SUMMARY_FIELDS = (
    "status",
    "needs_attention",
    "amount",
    "provider_status",
    "attention",
    "attention_reason",
    "failure_reason",
    "reason",
    "doubt",
    "contradiction",
    "trouble",
    "calls_failing",
    "capture_error",
    "url",
    "address",
    "ticker",
    "credited_total",
    "status_checks",
    "last_checked_at",
)
"""What `flows show` prints of a state (when it has it); `--json` prints all of it."""
DEPOSIT_COLUMNS = ("key", "amount", "confirmations", "state", "flag")

ProviderOption = Annotated[
    Provider | None, typer.Option("--provider", help="Only this provider's flows.")
]


@app.command("list")
def list_command(
    provider: ProviderOption = None,
    status: Annotated[str | None, typer.Option(help="Only flows in this status.")] = None,
    attention: Annotated[
        bool, typer.Option("--attention", help="Only flows an operator must look at.")
    ] = False,
    open_only: Annotated[bool, typer.Option("--open", help="Only running flows.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 50,
    as_json: bool = JSON_OPTION,
) -> None:
    """List flows through Temporal visibility (newest first)."""

    async def listed() -> list[Any]:
        async with operator_flows() as flows:
            return await list_flows(
                flows.client,
                provider=provider,
                status=status,
                attention=attention,
                open_only=open_only,
                limit=limit,
            )

    try:
        rows = asyncio.run(listed())
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    if as_json:
        print_json(rows)
    else:
        print_table([row.__dict__ for row in rows], LIST_COLUMNS)


def _summary(flow: FlowState) -> list[dict[str, object]]:
    data = flow.state.model_dump(mode="json")
    rows: list[dict[str, object]] = [{"field": "kind", "value": flow.kind}]
    for name in SUMMARY_FIELDS:
        value = data.get(name)
        if isinstance(value, dict):
            value = "; ".join(f"{key}: {reason}" for key, reason in value.items()) or None
        if value is not None:
            rows.append({"field": name, "value": value})
    return rows


def _deposits(state: BaseModel) -> list[dict[str, object]]:
    ledger = getattr(state, "ledger", None)
    if ledger is None:
        return []
    return [
        {
            "key": key,
            "amount": entry.amount,
            "confirmations": f"{entry.confirmations}/{entry.required_confirmations}",
            "state": entry.lifecycle.state,
            "flag": entry.flag,
        }
        for key, entry in ledger.entries.items()
    ]


@app.command()
def show(
    order_id: Annotated[str, typer.Argument(metavar="ORDER")],
    provider: ProviderOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Show the order's flows (checkout, invoice, address, withdrawal) as their state query
    answers."""

    async def found() -> list[FlowState]:
        async with operator_flows() as flows:
            return await flows.find(order_id, provider)

    with refusals():
        states = asyncio.run(found())
    if not states:
        fail(f"refused: no flow for order {order_id}")
    if as_json:
        print_json([{"kind": s.kind, "order_id": s.order_id, "state": s.state} for s in states])
        return
    for index, flow in enumerate(states):
        if index:
            typer.echo("")
        typer.echo(f"{flow.kind} {order_id}")
        print_table(_summary(flow), ("field", "value"))
        deposits = _deposits(flow.state)
        if deposits:
            typer.echo("deposits:")
            print_table(deposits, DEPOSIT_COLUMNS)


Kind = Literal["checkout", "address", "withdrawal"]


def _resolution(
    *,
    token: str | None,
    close_reason: str | None,
    deposit: str | None,
    credit: bool | None,
    decision: str | None,
    note: str | None,
    actor: str,
) -> tuple[Kind, BaseModel]:
    """Which flow the options address, and the resolution it takes."""
    options: tuple[tuple[Kind, object], ...] = (
        ("checkout", token or close_reason),
        ("address", deposit),
        ("withdrawal", decision),
    )
    chosen = [kind for kind, given in options if given]
    if len(chosen) != 1:
        raise typer.BadParameter(
            "give one of: --token/--close-reason (checkout), --deposit with --credit/--reject "
            "(address), --decision (withdrawal)"
        )
    fields: dict[Kind, tuple[type[BaseModel], dict[str, object]]] = {
        "checkout": (OperatorResolution, {"token": token, "close_reason": close_reason}),
        "address": (DepositResolution, {"key": deposit, "credit": credit, "note": note}),
        "withdrawal": (WithdrawalResolution, {"decision": decision, "note": note}),
    }
    kind: Kind = chosen[0]
    if kind == "address" and credit is None:
        raise typer.BadParameter("say --credit or --reject for the deposit")
    model, given = fields[kind]
    try:
        return kind, model.model_validate({"actor": actor, **given})
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'input'}: {e['msg']}" for e in error.errors()
        )
        raise typer.BadParameter(problems) from None


@app.command()
def resolve(
    order_id: Annotated[str, typer.Argument(metavar="ORDER")],
    token: Annotated[
        str | None, typer.Option(help="Checkout: attach the lender's application token.")
    ] = None,
    close_reason: Annotated[
        str | None, typer.Option(help="Checkout: close it as failed, for this reason.")
    ] = None,
    deposit: Annotated[
        str | None, typer.Option(help="Address: the deposit's ledger key (paymentId:txhash).")
    ] = None,
    credit: Annotated[
        bool | None, typer.Option("--credit/--reject", help="Address: credit or reject it.")
    ] = None,
    decision: Annotated[
        Literal["paid", "failed", "retry"] | None,
        typer.Option(help="Withdrawal in outcome_unknown: what the provider's dashboard shows."),
    ] = None,
    note: Annotated[
        str | None, typer.Option(help="Why (required for deposits and withdrawals).")
    ] = None,
    actor: Annotated[str, typer.Option(help="Who decides, as recorded in the flow.")] = "operator",
    as_json: bool = JSON_OPTION,
) -> None:
    """Give an operator's resolution; a refusal prints its reason and exits 1."""
    kind, resolution = _resolution(
        token=token,
        close_reason=close_reason,
        deposit=deposit,
        credit=credit,
        decision=decision,
        note=note,
        actor=actor,
    )

    async def resolved() -> BaseModel:
        async with operator_flows() as flows:
            if isinstance(resolution, OperatorResolution):
                return await flows.checkouts.resolve(order_id, resolution)
            if isinstance(resolution, DepositResolution):
                return await flows.crypto.resolve_deposit(order_id, resolution)
            assert isinstance(resolution, WithdrawalResolution)
            return await flows.withdrawals.resolve(order_id, resolution)

    with refusals():
        state = asyncio.run(resolved())
    if as_json:
        print_json({"kind": kind, "order_id": order_id, "state": state})
    else:
        typer.echo(f"{kind} {order_id} resolved by {actor}")
        print_table(_summary(FlowState(kind, order_id, state)), ("field", "value"))
