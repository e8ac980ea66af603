"""`payflow reconcile`: where our status and the provider's disagree, for every open flow."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from payflow.cli_common import JSON_OPTION, operator_flows, print_json, print_table, refusals
from payflow.flows import FlowKind, Provider, kinds_of, list_flows, payment_kind
from payflow.reconcile import Comparison, reconcile

COLUMNS = ("kind", "order_id", "ours", "provider", "read_at", "verdict", "note")
TROUBLE = frozenset({"drift", "no answer"})


def reconcile_command(
    orders: Annotated[
        list[str] | None,
        typer.Argument(metavar="[ORDER]...", help="Only these orders (default: every open flow)."),
    ] = None,
    provider: Annotated[
        Provider | None, typer.Option("--provider", help="Only this provider's flows.")
    ] = None,
    fix: Annotated[
        bool, typer.Option("--fix", help="Make each flow read the provider's status now first.")
    ] = False,
    wait: Annotated[
        float, typer.Option(min=0, max=120, help="With --fix: seconds to wait for each reading.")
    ] = 10.0,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many flows.")] = 500,
    as_json: bool = JSON_OPTION,
) -> None:
    """Compare each open flow's status with the provider's, as the flow last read it.

    With --fix each flow reads the provider's status again first. Exits 1 when any flow
    drifts or does not answer."""

    async def compared() -> list[Comparison]:
        async with operator_flows() as flows:
            targets: list[tuple[FlowKind, str]] = []
            if orders:
                for order_id in orders:
                    targets += [(f.kind, order_id) for f in await flows.find(order_id, provider)]
            else:
                rows = await list_flows(
                    flows.client, provider=provider, open_only=True, limit=limit
                )
                for row in rows:
                    kind = payment_kind(row.kind)
                    if kind in kinds_of(provider) and kind is not None and row.order_id:
                        targets.append((kind, row.order_id))
            return await reconcile(flows, targets, fix=fix, wait_seconds=wait)

    with refusals():
        results = asyncio.run(compared())
    if as_json:
        print_json(results)
    else:
        print_table([result.__dict__ for result in results], COLUMNS)
        for kind, what in sorted(
            {(r.kind, r.compared) for r in results if r.compared != "nothing"}
        ):
            typer.echo(f"{kind}: compared {what}")
        counts = {
            v: sum(r.verdict == v for r in results) for v in sorted({r.verdict for r in results})
        }
        typer.echo(f"{len(results)} flows: " + ", ".join(f"{n} {v}" for v, n in counts.items()))
    if any(result.verdict in TROUBLE for result in results):
        raise typer.Exit(1)
