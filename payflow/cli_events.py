"""`payflow events`: re-send a flow's merchant events (same ids, fresh signatures)."""

from __future__ import annotations

import asyncio
import json
from enum import StrEnum
from typing import Annotated

import httpx
import typer

from payflow.cli_common import fail, operator_flows, refusals
from payflow.notifications import post_event
from payflow.settings import PayflowSettings
from state.notifications import Outbox

events_app = typer.Typer(help="Merchant notifications.", no_args_is_help=True)


class Flow(StrEnum):
    """Which of the order's flows."""

    checkout = "checkout"
    invoice = "invoice"
    address = "address"
    withdrawal = "withdrawal"


async def _outbox(order_id: str, flow: Flow) -> Outbox:
    """The flow's events as its state shows them (works after it ended too)."""
    async with operator_flows() as flows:
        with refusals():
            state = (await flows.get(flow.value, order_id)).state
    outbox = getattr(state, "notifications", None)  # every flow's state carries its outbox
    if not isinstance(outbox, Outbox):
        fail(f"{flow} {order_id} keeps no merchant events")
    return outbox


async def _replay(
    order_id: str, flow: Flow, event_ids: list[str], url: str | None, as_json: bool
) -> int:
    settings = PayflowSettings()
    if settings.notify_secret is None:
        typer.echo("PAYFLOW_NOTIFY_SECRET is not set: events are never sent unsigned", err=True)
        return 2
    outbox = await _outbox(order_id, flow)
    target = url or outbox.url
    if target is None:
        typer.echo(f"{flow} {order_id} has no notify_url; give one with --url", err=True)
        return 2
    chosen = [e.event for e in outbox.entries if not event_ids or e.event.id in event_ids]
    results: list[dict[str, object]] = []
    async with httpx.AsyncClient(timeout=10.0) as http:
        for event in chosen:  # in their order, one at a time
            try:
                status: int | str = await post_event(
                    http, target, event, settings.notify_secret.get_secret_value()
                )
            except httpx.HTTPError as error:
                status = type(error).__name__
            results.append({"id": event.id, "type": event.type, "answer": status})
    if as_json:
        typer.echo(json.dumps(results))
    else:
        for row in results:
            typer.echo(f"{row['id']}  {row['type']:<32}  {row['answer']}")
        typer.echo(f"{len(results)} event(s) re-sent to {flow} {order_id}'s endpoint")
    accepted = all(isinstance(r["answer"], int) and 200 <= r["answer"] < 300 for r in results)
    return 0 if accepted else 1


@events_app.command("replay")
def replay(
    order_id: Annotated[str, typer.Argument(help="the merchant's order id")],
    flow: Annotated[Flow, typer.Option(help="which of the order's flows")] = Flow.checkout,
    event: Annotated[
        list[str] | None, typer.Option(help="only these event ids (repeatable); default all")
    ] = None,
    url: Annotated[str | None, typer.Option(help="send here instead of the flow's URL")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Send a flow's recorded events again, in order, with their ids (the merchant dedupes)."""
    raise typer.Exit(asyncio.run(_replay(order_id, flow, event or [], url, as_json)))
