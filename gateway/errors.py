"""HTTP answers for every refusal, as RFC 9457 problem details: 404 unknown, 409 not legal now,
422 bad input, 401/403 who may, 503 ask again later."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from gateway.problems import ValidationProblem, problem, refusal
from payflow.checkouts import CheckoutNotStarted, ResolutionRefused
from payflow.crypto import CryptoNotOpened
from payflow.notify_targets import UnsafeNotifyUrl
from payflow.withdrawals import WithdrawalRejected
from payflow.workflow_calls import (
    OrderIdTaken,
    PaymentConflict,
    PaymentNotFound,
    PaymentUnavailable,
    TermsConflict,
)

RETRY_AFTER_SECONDS = 5
Responses = dict[int | str, dict[str, Any]]

UNAUTHORIZED: Responses = {401: refusal("no bearer token, or one the gateway does not know")}
FORBIDDEN: Responses = {403: refusal("a known token whose role may not do this")}
INVALID: Responses = {
    422: refusal("the request does not match the schema (`errors` says where)", ValidationProblem)
}
UNAVAILABLE: Responses = {
    503: refusal(
        "Temporal cannot answer now, or too many requests are in flight: nothing was decided; "
        "ask again after Retry-After seconds"
    )
}
NOT_FOUND: Responses = {404: refusal("no payment for this order")}
CONFLICT: Responses = {
    409: refusal("not legal in the payment's current state, or the payment has ended")
}
STARTED: Responses = {
    409: refusal(
        "the order already has a payment on other terms (`different_terms`), or the provider "
        "refused to open it (`not_started`, `not_opened`, with its state)"
    )
}
UNREADABLE: Responses = {
    400: refusal("the body cannot be parsed at all (not UTF-8)"),
    408: refusal("the body did not arrive within PAYFLOW_GATEWAY_BODY_TIMEOUT_SECONDS"),
    413: refusal("the body is larger than its route's limit (PAYFLOW_GATEWAY_MAX_*_BODY_BYTES)"),
}
"""What a route with a request body adds (a body that is UTF-8 but not JSON is a 422)."""
API: Responses = {**UNAUTHORIZED, **FORBIDDEN, **INVALID, **UNAVAILABLE}
"""What every merchant and operator route can answer."""
ORDER: Responses = {**NOT_FOUND, **CONFLICT}
"""What a route on one order's payment adds."""

logger = logging.getLogger("payflow.gateway")


def _code(status: int) -> str:
    return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")


def install_error_handlers(app: FastAPI) -> None:
    """Register the mapping once per app."""

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> Response:
        return problem(
            error.status_code,
            _code(error.status_code),
            str(error.detail),
            instance=request.url.path,
            headers=error.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> Response:
        issues = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
            for e in error.errors()
        ]  # no `input`: a customer's name or email never comes back in an error body
        where = "; ".join(f"{'.'.join(map(str, i['loc']))}: {i['msg']}" for i in issues)
        return problem(422, "invalid_request", where, instance=request.url.path, errors=issues)

    @app.exception_handler(PaymentNotFound)
    async def _not_found(request: Request, error: PaymentNotFound) -> Response:
        return problem(404, "not_found", str(error), instance=request.url.path)

    @app.exception_handler(CheckoutNotStarted)
    async def _not_started(request: Request, error: CheckoutNotStarted) -> Response:
        checkout = error.view.model_dump(mode="json")
        return problem(409, "not_started", str(error), instance=request.url.path, checkout=checkout)

    @app.exception_handler(CryptoNotOpened)
    async def _not_opened(request: Request, error: CryptoNotOpened) -> Response:
        view = error.view.model_dump(mode="json")
        return problem(409, "not_opened", str(error), instance=request.url.path, view=view)

    @app.exception_handler(WithdrawalRejected)
    async def _rejected(request: Request, error: WithdrawalRejected) -> Response:
        withdrawal = error.view.model_dump(mode="json")
        return problem(
            422, "rejected", str(error), instance=request.url.path, withdrawal=withdrawal
        )

    @app.exception_handler(ResolutionRefused)
    async def _refused(request: Request, error: ResolutionRefused) -> Response:
        return problem(
            422, "resolution_refused", str(error), instance=request.url.path, reason=error.reason
        )

    @app.exception_handler(UnsafeNotifyUrl)
    async def _notify_url(request: Request, error: UnsafeNotifyUrl) -> Response:
        return problem(
            422, "notify_url_refused", str(error), instance=request.url.path, fields=["notify_url"]
        )

    @app.exception_handler(OrderIdTaken)
    async def _taken(request: Request, error: OrderIdTaken) -> Response:
        return problem(409, "order_id_in_use", str(error), instance=request.url.path)

    @app.exception_handler(TermsConflict)
    async def _terms(request: Request, error: TermsConflict) -> Response:
        return problem(409, "different_terms", str(error), instance=request.url.path)

    @app.exception_handler(PaymentConflict)
    async def _conflict(request: Request, error: PaymentConflict) -> Response:
        return problem(409, "conflict", str(error), instance=request.url.path)

    @app.exception_handler(PaymentUnavailable)
    async def _unavailable(request: Request, error: PaymentUnavailable) -> Response:
        logger.warning("answered 503: %s", error)
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        return problem(
            503, "unavailable", "try again later", instance=request.url.path, headers=headers
        )

    @app.exception_handler(Exception)
    async def _internal(request: Request, _: Exception) -> Response:
        return problem(500, "internal_error", "the gateway failed", instance=request.url.path)
