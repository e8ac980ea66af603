"""Fuzz the gateway with schemathesis: no 5xx and no status code its OpenAPI does not document.

Starts its own Temporal dev server, the simulators, a worker and the gateway (with a merchant and
an operator token), then runs `st run` against `/openapi.json` once per role, bounded by
`--examples` test cases per operation. Prints each run's summary and exits non-zero on a failure.

    .venv/bin/python bench/fuzz_gateway.py [--examples 25]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ledger_setup import embedded_ledger  # noqa: E402
from pydantic import SecretStr  # noqa: E402

from payflow.devserver import start_dev_server  # noqa: E402
from payflow.http_server import free_port  # noqa: E402
from payflow.settings import PayflowSettings  # noqa: E402
from payflow.stack import running_sandbox  # noqa: E402
from payflow.temporal_client import connect  # noqa: E402
from worker import running_on_sandbox  # noqa: E402

MERCHANT = "fuzz-merchant-token-0123456789"
OPERATOR = "fuzz-operator-token-0123456789"
CHECKS = "not_a_server_error,status_code_conformance"


def schemathesis(url: str, token: str, examples: int) -> int:
    """One bounded `st run` with one role's token; its exit status."""
    command = [
        str(Path(sys.executable).parent / "st"), "run", f"{url}/openapi.json",
        "--checks", CHECKS,
        "--max-examples", str(examples),
        "--header", f"Authorization: Bearer {token}",
        "--request-timeout", "30",
        "--workers", "1",
        "--seed", "20261122",
        "--max-redirects", "0",
        "--suppress-health-check", "all",
    ]  # fmt: skip
    return subprocess.run(command, cwd=ROOT, check=False).returncode


async def fuzz(examples: int) -> int:
    """Bring the stack up, fuzz it as the merchant and as an operator."""
    port = free_port()
    settings = PayflowSettings(
        task_queue="payflow-fuzz",
        public_url=f"http://127.0.0.1:{port}",
        gateway_port=port,
        api_token=SecretStr(MERCHANT),
        operator_token=SecretStr(OPERATOR),
        database_url=embedded_ledger(),
    )
    async with (
        start_dev_server() as server,
        running_sandbox(passimpay_callback_url=f"{settings.public_url}/webhooks/passimpay") as sb,
    ):
        client = await connect(server.address)
        async with running_on_sandbox(client, settings, sb) as gateway:
            codes = []
            for role, token in (("merchant", MERCHANT), ("operator", OPERATOR)):
                print(f"== as the {role} ==", flush=True)
                codes.append(await asyncio.to_thread(schemathesis, gateway.url, token, examples))
    print(f"exit statuses: merchant {codes[0]}, operator {codes[1]}", flush=True)
    return max(codes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=25, help="test cases per operation")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    code = asyncio.run(fuzz(args.examples))
    sys.stdout.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
