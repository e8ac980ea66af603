"""Applications held by the sandbox, findable by token and by (account, order id)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import ConfigDict

from sandbox.statedb import StateDB, Table

if TYPE_CHECKING:
    from sandbox.paymentassist.variants import StatusVariants

Status = Literal["pending", "in progress", "pending_capture", "completed", "failed", "expired"]
OPEN: frozenset[Status] = frozenset({"pending", "in progress", "pending_capture"})


def iso(timestamp: float | None) -> str | None:
    """A clock reading as ISO 8601 with offset, the way `/status` writes times."""
    if timestamp is None:
        return None
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).replace(microsecond=0).isoformat()


@dataclass
class Application:
    """One finance application; `params` keeps every `/begin` value exactly as received."""

    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(
        ser_json_bytes="base64", val_json_bytes="base64"
    )
    token: str
    api_key: str
    order_id: str
    amount: int
    plan_id: int
    params: dict[str, str]
    created_at: float
    expires_at: float
    auto_capture: bool = True
    status: Status = "pending"
    pa_ref: str = ""
    requires_invoice: bool = False
    has_invoice: bool = False
    invoice: tuple[str, bytes] | None = None
    last_accessed_at: float | None = None
    history: list[Status] = field(default_factory=lambda: ["pending"])

    @property
    def webhook_url(self) -> str | None:
        return self.params.get("webhook_url") or None

    @property
    def success_url(self) -> str | None:
        return self.params.get("success_url") or None

    @property
    def failure_url(self) -> str | None:
        return self.params.get("failure_url") or None

    @property
    def is_open(self) -> bool:
        """Still waiting for the customer or for a capture."""
        return self.status in OPEN

    def move_to(self, status: Status) -> None:
        """Change status and remember the path taken (tests assert on it)."""
        self.status = status
        self.history.append(status)

    def status_data(self, variants: StatusVariants | None = None) -> dict[str, Any]:
        """The application as `/status` reports it, in the format `variants` choose."""
        date = variants.date if variants is not None else iso
        data = {
            "token": self.token,
            "status": self.status,
            "amount": self.amount,
            "expires_at": date(self.expires_at),
            "pa_ref": self.pa_ref,
            "requires_invoice": self.requires_invoice,
            "has_invoice": self.has_invoice,
            "last_accessed_at": date(self.last_accessed_at),
        }
        return variants.apply(data) if variants is not None else data

    def inspect(self) -> dict[str, Any]:
        """Everything the control routes reveal, for tests and demos."""
        return {
            **self.status_data(),
            "order_id": self.order_id,
            "plan_id": self.plan_id,
            "auto_capture": self.auto_capture,
            "params": dict(self.params),
            "history": list(self.history),
            "invoice_filetype": self.invoice[0] if self.invoice else None,
        }


class ApplicationStore:
    """Applications by token and by order id (unique per account, i.e. API key); each change is
    written through to `db` (a no-op in memory) so a restarted sandbox finds them again."""

    def __init__(self, db: StateDB | None = None) -> None:
        self._by_token: dict[str, Application] = {}
        self._by_order: dict[tuple[str, str], Application] = {}
        self._rows = Table(db or StateDB.memory(), "application", Application)
        for _, application in self._rows.load():
            self._index(application)

    def add(self, application: Application) -> None:
        self._index(application)
        self.save(application)

    def save(self, application: Application) -> None:
        """Write a changed application through (call after every change to one)."""
        self._rows.put(application.token, application)

    def get(self, token: str) -> Application | None:
        return self._by_token.get(token)

    def all(self) -> list[Application]:
        """Every application, oldest first."""
        return list(self._by_token.values())

    def order_taken(self, api_key: str, order_id: str) -> bool:
        return (api_key, order_id) in self._by_order

    def rename_order(self, application: Application, order_id: str) -> None:
        """Move an application to a new order id (`/update` after completion)."""
        del self._by_order[(application.api_key, application.order_id)]
        application.order_id = order_id
        self._by_order[(application.api_key, order_id)] = application
        self.save(application)

    def for_order(self, order_id: str) -> list[Application]:
        """Every application with this order id, whatever the account."""
        return [app for (_, order), app in self._by_order.items() if order == order_id]

    def _index(self, application: Application) -> None:
        self._by_token[application.token] = application
        self._by_order[(application.api_key, application.order_id)] = application
