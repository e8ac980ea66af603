"""Errors every provider client raises, split by what the caller should do next."""

from __future__ import annotations

from typing import Any


class ProviderError(Exception):
    """Base of all provider client errors."""


class InvalidInput(ProviderError, ValueError):
    """Our own validation refused the input before any request was sent: never retry."""


class Refused(ProviderError):
    """The provider answered and said no (HTTP 4xx or an error envelope): do not retry."""

    def __init__(self, message: str, *, status_code: int, data: Any = None) -> None:
        super().__init__(f"provider refused (HTTP {status_code}): {message}")
        self.message = message
        self.status_code = status_code
        self.data = data


class Transient(ProviderError):
    """The outcome is unknown or the provider is briefly unwell (5xx, timeout, transport): retry."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class ConfigurationError(ProviderError):
    """Settings that must never be used together, caught at start-up."""
