"""Small HTML pages shown to customers who come back from the lender."""

from __future__ import annotations

from html import escape

from fastapi.responses import HTMLResponse


def customer_page(title: str, message: str, status_code: int = 200) -> HTMLResponse:
    """A plain, self-contained page; every value is escaped."""
    body = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto}</style>"
        f"</head><body><h1>{escape(title)}</h1><p>{escape(message)}</p></body></html>"
    )
    return HTMLResponse(body, status_code=status_code)
