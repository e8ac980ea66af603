"""Settings from the environment; secrets stay in SecretStr and never reach workflow inputs."""

from __future__ import annotations

import ipaddress
from decimal import Decimal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger.database import ledger_url
from state.passimpay_withdrawal_models import DEFAULT_MAX_USD, WithdrawLimits

DEFAULT_TASK_QUEUE = "payflow"
WITHDRAWAL_TASK_QUEUE = "payflow-withdrawals"


class PaymentAssistSettings(BaseSettings):
    """Payment Assist credentials for one dealer; the sandbox's when none are given."""

    model_config = SettingsConfigDict(env_prefix="PAYMENTASSIST_", extra="ignore")

    api_url: str = "http://127.0.0.1:8300/paymentassist"
    api_key: str = "demo_key"
    api_secret: SecretStr = SecretStr("demo_sandbox_secret")
    timeout_seconds: float = 30.0


class PassimpaySettings(BaseSettings):
    """Passimpay credentials for one platform; the sandbox's when none are given."""

    model_config = SettingsConfigDict(env_prefix="PASSIMPAY_", extra="ignore")

    api_url: str = "http://127.0.0.1:8300/passimpay"
    platform_id: int = 50
    api_key: SecretStr = SecretStr("sandbox-passimpay-key")
    timeout_seconds: float = 30.0
    callback_allowed_ips: set[str] = Field(default_factory=set)
    """Callback senders allowed (addresses or CIDR blocks; empty: any). Behind a proxy, list
    the proxy in `PAYFLOW_TRUSTED_PROXIES` so the sender's own address is checked."""
    withdraw_max: dict[str, Decimal] = Field(default_factory=dict)
    """The largest payout per currency, in its own units, keyed by paymentId or ticker:
    `{"BTC": "0.5", "60": "10", "USDT": "5000"}`."""
    withdraw_max_usd: Decimal = Field(default=DEFAULT_MAX_USD, ge=0)
    """The largest payout, in USD at the currency list's rate, in a currency missing from
    `withdraw_max`; 0 refuses every payout in such a currency."""
    unique_order_id: bool = False
    """Set only when the platform is known to refuse a second `/v2/withdraw` with the same
    orderId: then a send that may have arrived is repeated once the status API does not know
    it. Off, such a payout waits for an operator instead (never two payouts)."""

    @field_validator("callback_allowed_ips")
    @classmethod
    def _addresses(cls, values: set[str]) -> set[str]:
        for value in values:
            ipaddress.ip_network(value.strip(), strict=False)  # ValueError names the bad one
        return values

    @field_validator("withdraw_max")
    @classmethod
    def _positive_maxima(cls, values: dict[str, Decimal]) -> dict[str, Decimal]:
        for key, value in values.items():
            if not value.is_finite() or value <= 0:
                raise ValueError(f"the maximum payout for {key!r} must be a positive amount")
        return values

    def withdraw_limits(self) -> WithdrawLimits:
        """What `passimpay.validate_withdrawal` enforces."""
        return WithdrawLimits(max_by_currency=self.withdraw_max, max_usd=self.withdraw_max_usd)


class PayflowSettings(BaseSettings):
    """Where the gateway is reached and how workers are wired."""

    model_config = SettingsConfigDict(env_prefix="PAYFLOW_", extra="ignore")

    task_queue: str = DEFAULT_TASK_QUEUE
    max_concurrent_activities: int = Field(default=50, ge=1)
    """Provider calls in flight per worker: bounded so a burst queues in Temporal, not in
    the worker's event loop (2 cores: enough to keep the lenders busy, never starving it)."""
    max_concurrent_workflow_tasks: int = Field(default=20, ge=1)
    """Workflow tasks run at once per worker (each on a thread of the SDK's executor)."""
    workflow_sandbox: bool = False
    """Run workflow code inside the SDK's sandbox, which refuses nondeterministic calls at run
    time. Off by default: it costs a quarter of a busy worker's CPU; the test suite and the
    replay tests run every workflow inside it, so what it would refuse fails CI instead."""
    max_cached_workflows: int = Field(default=1000, ge=0)
    """Open workflows kept in a worker's memory between tasks (the rest replay their history
    on their next task): RSS grows by about the per-workflow figure in docs/performance.md for each."""
    workflow_task_pollers: int = Field(default=5, ge=1)
    """Concurrent long polls for workflow tasks per worker."""
    activity_task_pollers: int = Field(default=5, ge=1)
    """Concurrent long polls for activity tasks per worker."""
    withdrawal_task_queue: str = WITHDRAWAL_TASK_QUEUE
    public_url: str = "http://127.0.0.1:8000"
    return_redirect_url: str | None = None
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8000
    temporal_rpc_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    """The longest the gateway (and the Python API) waits on Temporal for a signal, query,
    describe or count before answering 503 with Retry-After: an unreachable server is retried
    by the SDK for 10 s whatever the RPC deadline, so this bound is enforced around the call."""
    temporal_signal_timeout_seconds: float = Field(default=0.5, gt=0, le=60)
    """The bound for a provider's webhook or callback, which only needs its signal delivered:
    short, so the provider hears 503 within a second and sends it again (a hint delivered twice
    changes nothing) instead of waiting on a Temporal that is falling behind."""
    temporal_update_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    """The same bound for starts and updates that wait on a provider call (a start waits for
    `/begin`, a capture for `/capture`): one slow lender call fits; past it the workflow goes on
    and the same request repeated joins it."""
    gateway_max_in_flight: int = Field(default=64, ge=1)
    """Requests the gateway works on at once (health, docs and codec routes aside); beyond it a
    request waits `gateway_slot_wait_seconds` for a slot, then gets 503 with Retry-After: 1."""
    gateway_slot_wait_seconds: float = Field(default=0.25, ge=0, le=5)
    """With the signal bound, what a webhook may wait in all: both together stay under 1 s."""
    gateway_max_callback_body_bytes: int = Field(default=64 * 1024, ge=1024)
    """The largest body of a provider callback (`/webhooks/*`): 413 at the first byte over."""
    gateway_max_api_body_bytes: int = Field(default=256 * 1024, ge=1024)
    """The largest body of a merchant or operator API request (`/v1/*`, invoices aside)."""
    gateway_max_document_body_bytes: int = Field(default=3 * 1024 * 1024, ge=1024)
    """The largest body of an invoice upload or of the Temporal UI's codec payloads."""
    gateway_body_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    """How long a request's whole body may take to arrive before 408: a body read holds no
    in-flight slot, only this long."""
    gateway_max_body_readers: int = Field(default=64, ge=1)
    """Bodies of one route family read at once (beyond it 503 at once): with the limits above,
    memory for bodies stays under readers x limit per family."""
    ready_cache_seconds: float = Field(default=1.0, ge=0, le=60)
    """How long `/readyz` reuses its answer: probes cost Temporal two calls per interval."""
    api_token: SecretStr | None = None
    """The merchant's bearer token: start, read, capture, invoice, cancel."""
    operator_token: SecretStr | None = None
    """The operators' bearer token (resolve, inbox, close; read too), recorded as `operator`."""
    operator_tokens: dict[str, SecretStr] = Field(default_factory=dict)
    """Named operator tokens, `{"alice": "..."}`: each resolution records the name."""
    payload_keys: dict[str, SecretStr] = Field(default_factory=dict)
    """Payload encryption keys by id (base64, 32 bytes), `{"2026-11": "..."}`; keep old ones
    while any history still needs them."""
    payload_key_id: str | None = None
    """Which key seals new payloads (default: the first)."""
    decision_keys: dict[str, SecretStr] = Field(default_factory=dict)
    """Keys payflow's API proves operator decisions with (and payout activities their gate
    releases), by id (base64, 32+ bytes), `{"2026-11": "..."}`: the worker refuses a decision
    without a valid proof. Every gateway, CLI and worker holds them; the codec server does not.
    Unset (development only): derived from the payload keys."""
    decision_key_id: str | None = None
    """Which decision key proves new decisions (default: the first); keep old ones a while."""
    codec_host: str = "127.0.0.1"
    codec_port: int = 8888
    """Where `payflow codec-server` listens (the Temporal UI's codec endpoint, off the gateway)."""
    insecure: bool = False
    """Serve an open API and use sandbox credentials anyway (`payflow dev` only): every request
    is logged with a warning."""
    sandbox_port: int = 8300
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    state_dir: str = ".payflow"
    database_url: str | None = None
    """The ledger of record (`postgresql+asyncpg://user:pass@host/db` in production); the
    embedded SQLite file `ledger.db` in the state dir when unset."""
    database_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    """The longest a start, read or write waits on the ledger before it is unavailable (503)."""

    def ledger_url(self) -> str:
        """Where the ledger of record lives."""
        return ledger_url(self.database_url, self.state_dir)

    temporal_ui_url: str | None = None
    """Where operators open the Temporal UI (its origin may call the codec endpoint); the dev
    UI by default."""

    def temporal_ui_origins(self) -> list[str]:
        """Browser origins allowed to call the codec endpoint."""
        if self.temporal_ui_url:
            return [self.temporal_ui_url.rstrip("/")]
        port = self.temporal_ui_port
        return [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]

    notify_url: str | None = Field(default=None, pattern=r"^https?://")
    """Where every flow's signed events go unless its request names its own `notify_url`."""
    notify_secret: SecretStr | None = None
    """The shared secret events are signed with (the worker signs; the merchant verifies)."""
    notify_private_hosts: bool = False
    """Development: a flow's own `notify_url` may be http and name loopback or private hosts
    (`payflow dev` sets it); in production it must be https on a public address."""
    notify_allowed_hosts: list[str] = Field(default_factory=list)
    """When set, the only hosts a flow's own `notify_url` may name (PAYFLOW_NOTIFY_URL is the
    operator's and always allowed)."""
    worker_metrics_port: int | None = Field(default=None, ge=0, le=65535)
    """Where a worker serves Prometheus `/metrics` (0 or unset: not served; `payflow dev`
    serves it on 9464 unless told otherwise)."""
    metrics_host: str = "127.0.0.1"
    """The address the worker's metrics endpoint binds."""
    flow_counts_ttl_seconds: float = Field(default=5.0, ge=0, le=300)
    """How long the gateway's `/metrics` reuses its visibility counts of flows: scrapes never
    cost Temporal more than a few counts per this interval."""
    ready_poller_max_age_seconds: float = Field(default=90.0, gt=0)
    """`/readyz` wants a worker that polled the task queue this recently. An idle worker's
    poll stays open for the server's long-poll interval (60 s by default) before it renews,
    so keep this above that interval."""

    trusted_proxies: list[str] = Field(default_factory=list)
    """Reverse proxies in front of the gateway (addresses or CIDR blocks). Only a request from
    one of them has its `X-Forwarded-For` read, for the callback allow-list."""

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        for value in values:
            ipaddress.ip_network(value.strip(), strict=False)  # ValueError names the bad one
        return values
