"""RFC 9457 problem details: the one shape of every refusal the gateway answers, and the
OpenAPI entries that document it."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse

from state.checkout_models import CheckoutView
from state.passimpay_models import AddressView, InvoiceView
from state.passimpay_withdrawal_models import WithdrawalView

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:payflow:problem:"

TITLES: dict[str, str] = {
    "bad_callback": "Callback values no payment can have",
    "bad_request": "Bad request",
    "bad_signature": "Signature does not verify",
    "body_timeout": "Body did not arrive in time",
    "conflict": "Not legal in the payment's current state",
    "cors_refused": "Origin, method or header not allowed",
    "different_terms": "The order already has a payment on other terms",
    "forbidden": "Token's role may not do this",
    "internal_error": "Internal error",
    "invalid_request": "Request does not match the schema",
    "method_not_allowed": "Method not allowed",
    "no_token": "Webhook names no application token",
    "not_found": "Not found",
    "not_json": "Body is not JSON",
    "not_opened": "Provider refused to open it",
    "not_started": "Checkout has no application",
    "not_this_order": "Token is not this order's",
    "overloaded": "Too many requests in flight",
    "rejected": "Withdrawal rejected",
    "resolution_refused": "Resolution refused",
    "source_not_allowed": "Sender not on the callback allow-list",
    "too_large": "Body too large",
    "unauthorized": "Missing or unknown bearer token",
    "unavailable": "Temporal cannot answer now",
}
"""One title per code: RFC 9457 wants the same title for every occurrence of a type."""


class Problem(BaseModel):
    """A refusal: what kind (`type`, `code`), how bad (`status`) and what happened (`detail`)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "urn:payflow:problem:not_found",
                    "title": "Not found",
                    "status": 404,
                    "detail": "no payment paymentassist-checkout-ord-1001",
                    "instance": "/v1/checkouts/ord-1001",
                    "code": "not_found",
                }
            ]
        }
    )

    type: str = Field(description="URI naming the kind of problem: `urn:payflow:problem:<code>`")
    title: str = Field(description="short summary of the kind of problem, the same every time")
    status: int = Field(ge=400, le=599, description="the HTTP status code of this answer")
    detail: str | None = Field(default=None, description="what went wrong this time, for people")
    instance: str | None = Field(default=None, description="the request path that met it")
    code: str = Field(description="stable machine code: branch on this, never on `detail`")


class ValidationIssue(BaseModel):
    """One way the request does not match the schema (the value sent is never echoed)."""

    loc: list[str | int] = Field(description="where: `body`, `query` or `path`, then the field")
    msg: str = Field(description="what is wrong with it")
    type: str = Field(description="pydantic's machine name for the error, e.g. `missing`")


class ValidationProblem(Problem):
    """422: the request does not match the schema."""

    errors: list[ValidationIssue] = Field(description="every field that does not match")


class CheckoutProblem(Problem):
    """409: the checkout exists but has no application to send the customer to."""

    checkout: CheckoutView = Field(description="the checkout's state, with the reason")


class CryptoProblem(Problem):
    """409: the invoice or address exists but Passimpay refused to open it."""

    view: InvoiceView | AddressView = Field(description="the invoice's or address's state")


class WithdrawalProblem(Problem):
    """422: the payout was rejected before anything was sent."""

    withdrawal: WithdrawalView = Field(description="the payout's state, with the reason")


class ResolutionProblem(Problem):
    """422: the operator's token was not attached to the checkout."""

    reason: str = Field(description="why `/status` or the token's claim said no")


class CallbackProblem(Problem):
    """400: a verified callback with values no payment can have, kept for an operator."""

    fields: list[str] = Field(description="the callback's fields that were refused")
    outcome: Literal["kept_for_operator"] = Field(
        description="the callback waits in the operators' inbox; it reached no payment"
    )


def problem(
    status: int,
    code: str,
    detail: str | None = None,
    *,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    """An `application/problem+json` answer; `extensions` are added as members."""
    title = TITLES.get(code) or HTTPStatus(status).phrase
    body = Problem(
        type=f"{TYPE_PREFIX}{code}",
        title=title,
        status=status,
        detail=detail,
        instance=instance,
        code=code,
    ).model_dump()
    body.update(extensions)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def refusal(description: str, model: Any = Problem) -> dict[str, Any]:
    """An OpenAPI response entry for one refusal: `model` is a Problem, or a union of them
    (`gateway.openapi` files it under `application/problem+json`)."""
    return {"model": model, "description": description}
