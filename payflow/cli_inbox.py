"""`payflow inbox`: verified Passimpay callbacks no flow took, until an operator acknowledges them."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from payflow.cli_common import JSON_OPTION, fail, operator_flows, print_json, print_table, refusals
from state.passimpay_models import UnmatchedCallback

app = typer.Typer(help="The Passimpay unmatched-callback inbox.", no_args_is_help=True)

COLUMNS = ("key", "received_at", "kind", "order_id", "reason")
SHOWN_KEY = 16
"""Characters of a key a table shows; `ack` takes any unique prefix."""


def _rows(items: list[UnmatchedCallback]) -> list[dict[str, object]]:
    return [
        {
            "key": item.key[:SHOWN_KEY],
            "received_at": item.received_at,
            "kind": item.kind,
            "order_id": item.order_id,
            "reason": item.reason,
        }
        for item in items
    ]


@app.command("list")
def list_command(as_json: bool = JSON_OPTION) -> None:
    """List the callbacks waiting for an operator."""

    async def listed() -> list[UnmatchedCallback]:
        async with operator_flows() as flows:
            return await flows.crypto.unmatched()

    with refusals():
        items = asyncio.run(listed())
    if as_json:
        print_json(items)
    else:
        print_table(_rows(items), COLUMNS)


@app.command()
def ack(
    key: Annotated[str, typer.Argument(help="The callback's key, or a unique prefix of it.")],
    actor: Annotated[str, typer.Option(help="Who dealt with it, as recorded.")] = "operator",
    as_json: bool = JSON_OPTION,
) -> None:
    """Acknowledge one callback: an operator has dealt with it; prints what is still open."""

    async def acknowledged() -> list[UnmatchedCallback]:
        async with operator_flows() as flows:
            matches = [
                item.key for item in await flows.crypto.unmatched() if item.key.startswith(key)
            ]
            if len(matches) != 1:
                fail(f"refused: {len(matches)} callbacks in the inbox match {key!r}")
            return await flows.crypto.acknowledge_unmatched(matches[0], actor=actor)

    with refusals():
        left = asyncio.run(acknowledged())
    if as_json:
        print_json(left)
    else:
        typer.echo(f"acknowledged by {actor}; {len(left)} left")
        print_table(_rows(left), COLUMNS)
