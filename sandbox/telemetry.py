"""The simulators record no telemetry of their own: their requests carry signatures and tokens."""

from __future__ import annotations

from fastapi.telemetry import TelemetryConfig

NO_TELEMETRY = TelemetryConfig(tracing=False, metrics=False, logs=False)
"""FastAPI's own OpenTelemetry off (it would record query strings as span attributes)."""
