"""The gateway's OpenAPI document: refusals filed under `application/problem+json`, and each
payment's status named by its enum (the models keep plain strings, so stored histories and
queries read exactly as before)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from gateway.problems import PROBLEM_JSON
from state.checkout import CheckoutStatus
from state.passimpay_address import AddressStatus
from state.passimpay_deposit import DepositStatus
from state.passimpay_invoice import InvoiceStatus
from state.passimpay_withdrawal import WithdrawalStatus

STATUS_ENUMS: dict[str, tuple[str, type[StrEnum]]] = {
    "CheckoutStarted": ("status", CheckoutStatus),
    "CheckoutView": ("status", CheckoutStatus),
    "InvoiceOpened": ("status", InvoiceStatus),
    "InvoiceState": ("status", InvoiceStatus),
    "InvoiceLifecycle": ("state", InvoiceStatus),
    "AddressOpened": ("status", AddressStatus),
    "AddressState": ("status", AddressStatus),
    "AddressLifecycle": ("state", AddressStatus),
    "DepositLifecycle": ("state", DepositStatus),
    "WithdrawalState": ("status", WithdrawalStatus),
    "WithdrawalLifecycle": ("state", WithdrawalStatus),
}
"""Schema name: (its status property, the enum of the values it takes)."""


def problems_as_problem_json(spec: dict[str, Any]) -> dict[str, Any]:
    """Every 4xx/5xx answer documented as JSON is problem details: say so in its media type."""
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if str(status)[0] in "45" and "application/json" in content:
                    content[PROBLEM_JSON] = content.pop("application/json")
    return spec


def statuses_as_enums(spec: dict[str, Any]) -> dict[str, Any]:
    """Point each payment's status property at a named enum schema of its values."""
    schemas = spec.get("components", {}).get("schemas", {})
    for name, (prop, enum) in STATUS_ENUMS.items():
        properties = schemas.get(name, {}).get("properties", {})
        if prop not in properties:
            continue
        schemas.setdefault(
            enum.__name__,
            {
                "type": "string",
                "enum": [member.value for member in enum],
                "title": enum.__name__,
                "description": (enum.__doc__ or "").strip().splitlines()[0],
            },
        )
        kept = {k: v for k, v in properties[prop].items() if k in ("description", "readOnly")}
        properties[prop] = {"$ref": f"#/components/schemas/{enum.__name__}", **kept}
    return spec


def install_openapi(app: FastAPI) -> None:
    """Build the document once, on first request, with the problem media type."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = statuses_as_enums(
                problems_as_problem_json(
                    get_openapi(
                        title=app.title,
                        version=app.version,
                        description=app.description,
                        routes=app.routes,
                        tags=app.openapi_tags,
                        separate_input_output_schemas=app.separate_input_output_schemas,
                    )
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
