"""`payflow db` (the ledger's schema) and `payflow ledger` (list and export payments)."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

import typer

from ledger.database import LedgerUnavailable, redacted
from ledger.migrate import current_revision, head_revision, schema_problem, upgrade
from ledger.store import Ledger, PaymentFilter, payment_key
from payflow.cli_common import EXIT_UNAVAILABLE, JSON_OPTION, fail, print_json, print_table
from payflow.settings import PayflowSettings

db_app = typer.Typer(help="The ledger database's schema.", no_args_is_help=True)
ledger_app = typer.Typer(help="Payments as the ledger of record keeps them.", no_args_is_help=True)

EXPORT_COLUMNS = [
    "at",
    "kind",
    "order_id",
    "type",
    "status",
    "needs_attention",
    "amount",
    "currency",
    "direction",
    "reference",
    "version",
    "recorded_at",
]
LIST_COLUMNS = ["id", "provider", "status", "needs_attention", "created_at", "updated_at"]


@contextlib.asynccontextmanager
async def _ledger() -> AsyncIterator[Ledger]:
    settings = PayflowSettings()
    ledger = Ledger.connect(settings.ledger_url(), timeout=settings.database_timeout_seconds)
    try:
        yield ledger
    except LedgerUnavailable as error:
        fail(f"unavailable: the ledger database did not answer: {error}", EXIT_UNAVAILABLE)
    finally:
        await ledger.close()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the ledger's migrations up to this code's schema (PAYFLOW_DATABASE_URL)."""

    async def run() -> None:
        async with _ledger() as ledger:
            before = await current_revision(ledger.engine)
            reached = await upgrade(ledger.engine)
            where = redacted(PayflowSettings().ledger_url())
            typer.echo(f"ledger {where}: {before or 'empty'} -> {reached}")

    asyncio.run(run())


@db_app.command("status")
def db_status() -> None:
    """Say whether the ledger's schema is this code's (exit 1 when it is not)."""

    async def run() -> None:
        async with _ledger() as ledger:
            problem = await schema_problem(ledger.engine)
        if problem is not None:
            fail(problem)
        typer.echo(f"the ledger database is at {head_revision()}, this code's schema")

    asyncio.run(run())


def _when(value: str | None, option: str) -> datetime | None:
    """An ISO date or time; a naive one is UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"not an ISO date or time: {value!r}", param_hint=option) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@ledger_app.command("list")
def ledger_list(
    kind: Annotated[
        str | None, typer.Option(help="checkout, invoice, address or withdrawal")
    ] = None,
    provider: Annotated[str | None, typer.Option(help="paymentassist or passimpay")] = None,
    status: Annotated[str | None, typer.Option(help="only this status")] = None,
    attention: Annotated[
        bool | None, typer.Option("--attention/--no-attention", help="needs an operator or not")
    ] = None,
    created_from: Annotated[str | None, typer.Option("--from", help="created at or after")] = None,
    created_to: Annotated[str | None, typer.Option("--to", help="created before")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="payments per page")] = 50,
    starting_after: Annotated[
        str | None, typer.Option(help="the id (kind:order_id) the last page ended with")
    ] = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """List payments newest first, a page at a time, from the ledger (after retention too)."""
    where = PaymentFilter(
        kind=kind,
        provider=provider,
        status=status,
        needs_attention=attention,
        created_from=_when(created_from, "--from"),
        created_to=_when(created_to, "--to"),
    )

    async def run() -> None:
        async with _ledger() as ledger:
            try:
                page = await ledger.page(where, limit=limit, starting_after=starting_after)
            except KeyError as error:
                fail(str(error.args[0]))
        rows = [
            {"id": payment_key(p.kind, p.order_id), **p.model_dump(exclude={"view", "terms"})}
            for p in page.items
        ]
        if as_json:
            print_json({"data": rows, "has_more": page.has_more})
            return
        print_table(rows, LIST_COLUMNS)
        if page.has_more:
            typer.echo(f"more: --starting-after {rows[-1]['id']}")

    asyncio.run(run())


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return value


@ledger_app.command("export")
def ledger_export(
    start: Annotated[str | None, typer.Option("--from", help="entries at or after")] = None,
    end: Annotated[str | None, typer.Option("--to", help="entries before")] = None,
    output_format: Annotated[str, typer.Option("--format", help="csv or jsonl")] = "csv",
) -> None:
    """Write every ledger entry (changes and money moved, amounts exact) in a time range to
    stdout, oldest first, for accounting."""
    if output_format not in ("csv", "jsonl"):
        raise typer.BadParameter("csv or jsonl", param_hint="--format")
    since, until = _when(start, "--from"), _when(end, "--to")

    async def run() -> None:
        writer = csv.DictWriter(sys.stdout, EXPORT_COLUMNS, extrasaction="ignore")
        if output_format == "csv":
            writer.writeheader()
        async with _ledger() as ledger:
            async for entry in ledger.entries(since, until):
                row = {column: _cell(entry.get(column)) for column in EXPORT_COLUMNS}
                if output_format == "csv":
                    writer.writerow(row)
                else:
                    sys.stdout.write(json.dumps(row) + "\n")

    asyncio.run(run())
