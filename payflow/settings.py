"""Settings from the environment; secrets stay in SecretStr and never reach workflow inputs."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    unique_order_id: bool = False
    """Set only when the platform is known to refuse a second `/v2/withdraw` with the same
    orderId: then a send that may have arrived is repeated once the status API does not know
    it. Off, such a payout waits for an operator instead (never two payouts)."""


class PayflowSettings(BaseSettings):
    """Where the gateway is reached and how workers are wired."""

    model_config = SettingsConfigDict(env_prefix="PAYFLOW_", extra="ignore")

    task_queue: str = DEFAULT_TASK_QUEUE
    max_concurrent_activities: int = Field(default=50, ge=1)
    """Provider calls in flight per worker: bounded so a burst queues in Temporal, not in
    the worker's event loop (2 cores: enough to keep the lenders busy, never starving it)."""
    max_concurrent_workflow_tasks: int = Field(default=20, ge=1)
    withdrawal_task_queue: str = WITHDRAWAL_TASK_QUEUE
    public_url: str = "http://127.0.0.1:8000"
    return_redirect_url: str | None = None
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8000
    api_token: SecretStr | None = None
    """The merchant's bearer token: start, read, capture, invoice, cancel."""
    operator_token: SecretStr | None = None
    """The operators' bearer token (resolve, inbox, close; read too), recorded as `operator`."""
    operator_tokens: dict[str, SecretStr] = Field(default_factory=dict)
    """Named operator tokens, `{"alice": "..."}`: each resolution records the name."""
    insecure: bool = False
    """Serve an open API and use sandbox credentials anyway (`payflow dev` only): every request
    is logged with a warning."""
    sandbox_port: int = 8300
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    state_dir: str = ".payflow"
