"""The API's two roles and the tokens that prove them; no web framework here."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from pydantic import SecretStr

INSECURE_CALLER = "insecure"
MIN_TOKEN_LENGTH = 24


class Role(StrEnum):
    """What a token may do."""

    MERCHANT = "merchant"
    OPERATOR = "operator"


@dataclass(frozen=True)
class Caller:
    """Who sent a request: the role and the name resolutions record."""

    role: Role
    name: str


@dataclass(frozen=True)
class AccessTokens:
    """The tokens the gateway accepts; `insecure` opens the API only while no token is set at
    all (dev only, said once at start-up): a configured token is always checked."""

    merchant: SecretStr | None = None
    operators: Mapping[str, SecretStr] = field(default_factory=dict)
    insecure: bool = False

    @property
    def open(self) -> bool:
        """Whether requests are served without a token: never once any token is configured."""
        return self.insecure and self.merchant is None and not self.operators

    def identify(self, presented: str) -> Caller | None:
        """The caller a token belongs to; every known token is compared, in constant time."""
        found: Caller | None = None
        candidates = [(Caller(Role.MERCHANT, Role.MERCHANT.value), self.merchant)]
        candidates += [
            (Caller(Role.OPERATOR, name), token) for name, token in self.operators.items()
        ]
        for caller, token in candidates:
            if token is not None and hmac.compare_digest(
                presented.encode(), token.get_secret_value().encode()
            ):
                found = found or caller
        return found

    @classmethod
    def from_settings(
        cls,
        api_token: SecretStr | None,
        operator_token: SecretStr | None,
        operator_tokens: Mapping[str, SecretStr],
        *,
        insecure: bool = False,
    ) -> AccessTokens:
        """The tokens as configured: the single operator token is named `operator`."""
        operators = dict(operator_tokens)
        if operator_token is not None:
            operators.setdefault(Role.OPERATOR.value, operator_token)
        return cls(merchant=api_token, operators=operators, insecure=insecure)

    def problems(self) -> list[str]:
        """Why this API would not be closed: missing, short or shared tokens."""
        found: list[str] = []
        if self.merchant is None:
            found.append("PAYFLOW_API_TOKEN is not set: the merchant API would be open")
        if not self.operators:
            found.append(
                "PAYFLOW_OPERATOR_TOKEN (or PAYFLOW_OPERATOR_TOKENS) is not set: "
                "nobody could resolve a payment"
            )
        tokens = [t.get_secret_value() for t in [self.merchant, *self.operators.values()] if t]
        if any(len(token) < MIN_TOKEN_LENGTH for token in tokens):
            found.append(f"every API token must have at least {MIN_TOKEN_LENGTH} characters")
        if len(set(tokens)) < len(tokens):
            found.append("the merchant and each operator need tokens of their own")
        return found
