"""Pages people open, in a real headless Chromium with no network beyond loopback: the API docs
render from the gateway alone, the lender's page approves a checkout, the hosted invoice page
takes a payment."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import TypeVar

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from state.passimpay_models import InvoiceRequest, InvoiceTiming
from tests.conftest import Stack
from tests.flows.helpers import checkout_request, eventually, new_order_id, wait_for_status

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="headless Chromium is not installed (apt-get install -y chromium chromium-driver)",
)
T = TypeVar("T")
WAIT_SECONDS = 30


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    os.environ["SE_OFFLINE"] = "true"  # never let Selenium fetch a driver
    options = Options()
    options.binary_location = CHROMIUM or ""
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        # no network: every name but loopback fails to resolve (a CDN asset would not load)
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER or ""))
    driver.set_page_load_timeout(WAIT_SECONDS)
    try:
        yield driver
    finally:
        driver.quit()


async def in_browser(action: Callable[[], T]) -> T:
    """Drive the browser off the event loop that serves the gateway and the sandboxes."""
    return await asyncio.to_thread(action)


def wait_until(browser: WebDriver, condition: Callable[[WebDriver], bool]) -> None:
    """Until `condition` holds (a page that is still loading is not read early)."""
    WebDriverWait(browser, WAIT_SECONDS).until(condition)


def wait_for(browser: WebDriver, css: str) -> list[object]:
    """The elements matching `css` once at least one is there."""
    return WebDriverWait(browser, WAIT_SECONDS).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, css) or False
    )


async def test_api_docs_render_offline(stack: Stack, browser: WebDriver) -> None:
    await in_browser(lambda: browser.get(f"{stack.gateway.url}/docs"))
    await in_browser(lambda: wait_for(browser, ".opblock-summary-path"))
    paths = await in_browser(
        lambda: {
            e.get_attribute("data-path") or e.text
            for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
        }
    )
    assert {"/v1/checkouts", "/v1/checkouts/{order_id}", "/healthz"} <= paths, paths
    assert any(p.endswith("/invoices/{order_id}") for p in paths), paths
    assert any(p.endswith("/withdrawals") for p in paths), paths


async def test_lender_page_approves_a_checkout(stack: Stack, browser: WebDriver) -> None:
    request = checkout_request()
    gateway = stack.gateway.url
    started = await stack.checkouts.start(request)
    await in_browser(lambda: browser.get(started.url))
    await in_browser(lambda: wait_for(browser, "button.approve")[0].click())  # type: ignore[attr-defined]
    # the click navigates asynchronously: read the heading only once the gateway's page is up
    await in_browser(lambda: wait_until(browser, lambda b: b.current_url.startswith(gateway)))
    heading = await in_browser(lambda: wait_for(browser, "h1")[0].text)  # type: ignore[attr-defined]
    assert heading == "Thank you"  # the gateway's page, after the signed return
    await wait_for_status(stack.checkouts, request.order_id, "completed")


async def test_hosted_invoice_page_takes_a_payment(stack: Stack, browser: WebDriver) -> None:
    request = InvoiceRequest(
        order_id=new_order_id("inv"),
        amount=Decimal("12.50"),
        timing=InvoiceTiming(active_poll_seconds=120, idle_poll_seconds=120),
    )
    opened = await stack.crypto.create_invoice(request)
    await in_browser(lambda: browser.get(opened.url))
    button = await in_browser(lambda: wait_for(browser, "form button")[0])
    assert "12.50" in await in_browser(lambda: browser.page_source)
    await in_browser(button.click)  # type: ignore[attr-defined]
    view = await eventually(
        lambda: stack.crypto.get_invoice(request.order_id),
        lambda v: v.status == "paid",
        timeout=WAIT_SECONDS,
    )
    assert view.provider is not None and view.provider.status == "paid"
