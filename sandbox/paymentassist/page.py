"""The customer's continuation page and the signed redirect back to the merchant."""

from __future__ import annotations

import html
import time
from functools import cache
from importlib import resources
from string import Template
from typing import TYPE_CHECKING, Annotated, Literal
from urllib.parse import urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from providers.paymentassist.signing import return_signature_params, signature
from sandbox.paymentassist.plans import find_plan
from sandbox.paymentassist.store import Application

if TYPE_CHECKING:
    from sandbox.paymentassist.sandbox import PaymentAssistSandbox

RESULT_TEXT = {
    "pending_capture": ("Application approved", "The retailer will confirm the purchase shortly."),
    "completed": ("Application approved", "Your finance is in place."),
    "failed": ("Application declined", "The application was not approved."),
    "expired": ("Application expired", "This application link has expired."),
}


def signed_return_url(url: str, token: str, status: str, secret: str) -> str:
    """Append token, status and their signature, keeping the merchant's own query."""
    params = return_signature_params(token, status)
    extra = urlencode({**params, "signature": signature(params, secret)})
    parts = urlsplit(url)
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit(parts._replace(query=query))


@cache
def _template(name: str) -> Template:
    return Template(
        resources.files("sandbox.paymentassist").joinpath(name).read_text(encoding="utf-8")
    )


def _money(pence: int) -> str:
    pounds, rest = divmod(pence, 100)
    return f"£{pounds:,}.{rest:02d}"


def _form_page(application: Application) -> str:
    plan = find_plan(application.plan_id)
    params = application.params
    values = {
        "order_id": application.order_id,
        "description": params.get("description", ""),
        "amount": _money(application.amount),
        "plan": plan.name if plan else str(application.plan_id),
        "customer": f"{params.get('f_name', '')} {params.get('s_name', '')}",
        "status": application.status,
        "expires_at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(application.expires_at)),
    }
    return _template("continue.html").substitute({k: html.escape(v) for k, v in values.items()})


def _message_page(heading: str, message: str, status_code: int = 200) -> HTMLResponse:
    text = {"heading": html.escape(heading), "message": html.escape(message)}
    return HTMLResponse(_template("result.html").substitute(text), status_code=status_code)


def create_router(sandbox: PaymentAssistSandbox) -> APIRouter:
    """Routes for `/continue/{token}`: show the application, take the decision, redirect."""
    router = APIRouter(tags=["customer"])

    @router.get("/continue/{token}", response_class=HTMLResponse)
    async def show(token: str) -> HTMLResponse:
        application = sandbox.store.get(token)
        if application is None:
            return _message_page("Application not found", "Check the link you were sent.", 404)
        sandbox.open_page(application)
        if application.status == "in progress":
            return HTMLResponse(_form_page(application))
        return _message_page(*RESULT_TEXT[application.status])

    @router.post("/continue/{token}")
    async def decide(
        token: str,
        request: Request,
        decision: Annotated[Literal["approve", "decline"], Form()],
        requires_invoice: Annotated[bool, Form()] = False,
    ) -> Response:
        if sandbox.store.get(token) is None:
            return _message_page("Application not found", "Check the link you were sent.", 404)
        try:
            target = sandbox.settle(token, decision, requires_invoice=requires_invoice)
        except ValueError as error:
            return _message_page("Application closed", str(error), 409)
        return RedirectResponse(target or str(request.url), status_code=303)

    return router
