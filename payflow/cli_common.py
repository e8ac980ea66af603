"""What every operator command shares: the Temporal connection, tables or JSON, one-line errors."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import typer
from pydantic import BaseModel, SecretStr

from ledger.store import Ledger
from payflow.checkouts import PaymentAssistCheckouts
from payflow.codec import DEV_KEY_FILE, PayloadKeyError, codec_for, dev_key
from payflow.crypto import PassimpayPayments
from payflow.flows import Flows
from payflow.settings import PayflowSettings
from payflow.temporal_client import connect
from payflow.withdrawals import PassimpayWithdrawals
from payflow.workflow_calls import PaymentConflict, PaymentNotFound, PaymentUnavailable

JSON_OPTION = typer.Option(False, "--json", help="Print machine-readable JSON instead of a table.")
EXIT_REFUSED = 1
"""The flow (or the sandbox) refused, or there is no such flow."""
EXIT_UNAVAILABLE = 3
"""Nothing was decided: Temporal or the sandbox did not answer; try again."""


def fail(message: str, code: int = EXIT_REFUSED) -> NoReturn:
    """Print one line on stderr and exit non-zero."""
    typer.echo(message, err=True)
    raise typer.Exit(code)


@contextlib.contextmanager
def refusals() -> Iterator[None]:
    """Turn the APIs' refusals into one line and an exit code."""
    try:
        yield
    except PaymentUnavailable as error:
        fail(f"unavailable: {error}", EXIT_UNAVAILABLE)
    except (PaymentConflict, PaymentNotFound) as error:
        fail(f"refused: {error}")


def _codec_keys(settings: PayflowSettings) -> Mapping[str, SecretStr]:
    """The payload keys from settings, else the dev stack's own key beside `payflow dev`."""
    if not settings.payload_keys and (Path(settings.state_dir) / DEV_KEY_FILE).exists():
        return dev_key(settings.state_dir)
    return settings.payload_keys


@contextlib.asynccontextmanager
async def operator_flows() -> AsyncIterator[Flows]:
    """The typed APIs on a client that opens our encrypted payloads (TEMPORAL_* settings)."""
    settings = PayflowSettings()
    try:
        codec = codec_for(_codec_keys(settings), settings.payload_key_id)
    except PayloadKeyError as error:
        fail(f"payload keys: {error}", 2)
    try:
        client = await connect(codec=codec)
    except RuntimeError as error:
        fail(f"unavailable: cannot reach Temporal: {error}", EXIT_UNAVAILABLE)
    queue = settings.task_queue
    ledger = Ledger.connect(settings.ledger_url(), timeout=settings.database_timeout_seconds)
    try:
        yield Flows(
            client,
            PaymentAssistCheckouts(
                client, task_queue=queue, public_url=settings.public_url, ledger=ledger
            ),
            PassimpayPayments(client, task_queue=queue, ledger=ledger),
            PassimpayWithdrawals(client, task_queue=queue, ledger=ledger),
        )
    finally:
        await ledger.close()


def plain(value: object) -> Any:
    """JSON-ready data from models, dataclasses, datetimes and the rest."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: plain(getattr(value, field.name)) for field in dataclasses.fields(value)
        }
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def print_json(value: object) -> None:
    """Machine-readable output on stdout."""
    typer.echo(json.dumps(plain(value), indent=2, default=str))


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def table(rows: Sequence[Mapping[str, object]], columns: Sequence[str]) -> str:
    """Rows as plain text in aligned columns, headed by the column names."""
    cells = [[column.upper() for column in columns]]
    cells += [[_cell(row.get(column)) for column in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in cells
    )


def print_table(rows: Sequence[Mapping[str, object]], columns: Sequence[str]) -> None:
    """A table on stdout, or a line saying there is nothing to show."""
    typer.echo(table(rows, columns) if rows else "(none)")
