"""The gateway documents itself: pages that work offline, and an OpenAPI document that names
every answer, every field and every status a payment can have."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
import pytest_asyncio

from gateway.openapi import STATUS_ENUMS
from gateway.problems import PROBLEM_JSON
from tests.conftest import Stack

ASSET_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}
PAYMENT_ROUTE = re.compile(r"^/v1/")
METHODS = {"get", "post", "put", "patch", "delete"}


class Links(HTMLParser):
    """Every URL a page loads: script sources, stylesheets and icons."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        url = found.get("src") if tag == "script" else found.get("href") if tag == "link" else None
        if url:
            self.urls.append(url)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_docs_pages_load_only_what_the_gateway_serves(stack: Stack, page: str) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=10) as http:
        html = await http.get(page)
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
        assert "http://" not in html.text and "https://" not in html.text  # no CDN, no fonts
        links = Links()
        links.feed(html.text)
        assert any(url.endswith(".js") for url in links.urls), links.urls
        for url in links.urls:
            assert url.startswith("/") and not url.startswith("//"), url
            asset = await http.get(url)
            assert asset.status_code == 200, url
            kind = next(v for k, v in ASSET_TYPES.items() if url.endswith(k))
            assert kind in asset.headers["content-type"], (url, asset.headers["content-type"])
            assert len(asset.content) > 1000, url
        spec = await http.get("/openapi.json")
        assert spec.status_code == 200 and spec.json()["info"]["title"] == "payflow gateway"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def spec(stack: Stack) -> dict[str, Any]:
    """The document as a client reads it (the gateway runs in this event loop)."""
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=10) as http:
        found: dict[str, Any] = (await http.get("/openapi.json")).json()
    return found


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            if method in METHODS:
                yield path, method, operation


def test_every_payment_route_documents_its_refusals_as_problems(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    for path, method, operation in operations(spec):
        responses = operation["responses"]
        where = f"{method.upper()} {path}"
        if PAYMENT_ROUTE.match(path):
            assert {"401", "403", "422", "503"} <= set(responses), where
            if "{" in path:
                assert "404" in responses, where
            if method == "post" and path.count("/") > 2:
                assert "409" in responses, where
        if "requestBody" in operation:
            assert "400" in responses, where  # a body that is not even UTF-8
        for status, response in responses.items():
            if status[0] not in "45" or "content" not in response:
                continue
            content = response["content"]
            if "text/html" in content:  # the customer's return page
                continue
            assert set(content) == {PROBLEM_JSON}, (where, status, set(content))
            schema = content[PROBLEM_JSON]["schema"]
            refs = [schema.get("$ref")] + [s.get("$ref") for s in schema.get("anyOf", [])]
            names = [ref.rsplit("/", 1)[1] for ref in refs if ref]
            assert names, (where, status, schema)
            for name in names:
                required = set(schemas[name].get("required", []))
                assert {"type", "title", "status", "code"} <= required, (where, status, name)
    assert "HTTPValidationError" not in schemas  # FastAPI's own 422 body is never answered


def test_starts_document_a_conflict_and_each_request_body_has_an_example(
    spec: dict[str, Any],
) -> None:
    schemas = spec["components"]["schemas"]
    bodies = 0
    for path, method, operation in operations(spec):
        if path.startswith("/v1/") and operation.get("responses", {}).get("201"):
            assert "409" in operation["responses"], path
        body = operation.get("requestBody")
        if body is None:
            continue
        bodies += 1
        (media,) = body["content"].values()
        schema = media["schema"]
        ref = schema.get("$ref")
        examples = media.get("examples") or schema.get("examples")
        if ref:
            examples = examples or schemas[ref.rsplit("/", 1)[1]].get("examples")
        assert examples, f"{method.upper()} {path} has no example body"
    assert bodies >= 10


def test_every_field_of_our_models_says_what_it_is(spec: dict[str, Any]) -> None:
    missing = [
        f"{name}.{field}"
        for name, schema in spec["components"]["schemas"].items()
        for field, prop in schema.get("properties", {}).items()
        if not prop.get("description")
    ]
    assert missing == []


def test_schema_names_are_the_models_names(spec: dict[str, Any]) -> None:
    names = list(spec["components"]["schemas"])
    odd = [name for name in names if not re.fullmatch(r"[A-Z][A-Za-z0-9]*", name)]
    assert odd == []  # no `-Input`/`-Output` halves, no module-path prefixes
    assert len({name.lower() for name in names}) == len(names)
    for problem in ("Problem", "ValidationProblem", "CheckoutProblem", "WithdrawalProblem"):
        assert problem in names


def test_payment_statuses_are_enums_of_the_workflows_own_values(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    for name, (prop, enum) in STATUS_ENUMS.items():
        assert name in schemas, name
        ref = schemas[name]["properties"][prop]["$ref"]
        assert ref == f"#/components/schemas/{enum.__name__}", name
        assert schemas[enum.__name__]["enum"] == [member.value for member in enum]
    view = schemas["CheckoutView"]["properties"]["status"]
    assert view["description"]  # the field's own words stay beside the enum
