"""payflow as it is deployed, for benches: its own worker and gateway processes, a dealer's and
a platform's own credentials (not the sandboxes' defaults), bearer tokens, sealed payloads and
the ledger on."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
from harness import ROOT
from pydantic import SecretStr

from payflow.codec import EncryptionCodec, codec_for
from payflow.devserver import DevServer
from payflow.stack import RunningSandbox

DEALER_KEY = "bench_dealer"
PLATFORM_ID = 77
READY_TIMEOUT = 60.0


@dataclass(frozen=True)
class Deployment:
    """Everything the worker and gateway processes are configured with."""

    env: dict[str, str]
    merchant_token: str
    payload_keys: dict[str, str]
    gateway_url: str

    @property
    def codec(self) -> EncryptionCodec:
        codec = codec_for(
            {key_id: SecretStr(value) for key_id, value in self.payload_keys.items()}, None
        )
        assert codec is not None
        return codec

    @property
    def merchant(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.merchant_token}"}


def deployment(
    server: DevServer,
    sandbox: RunningSandbox,
    task_queue: str,
    database_url: str,
    gateway_port: int,
) -> Deployment:
    """Give the simulators a dealer and a platform with fresh secrets, and configure payflow
    with them, tokens, a payload key and the ledger, as `payflow gateway` refuses to start
    without."""
    dealer_secret = secrets.token_urlsafe(24)
    platform_key = secrets.token_urlsafe(24)
    sandbox.paymentassist.credentials[DEALER_KEY] = dealer_secret
    sandbox.passimpay.platforms[PLATFORM_ID] = platform_key
    merchant, operator = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    keys = {"bench": base64.b64encode(os.urandom(32)).decode()}
    url = f"http://127.0.0.1:{gateway_port}"
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": server.address,
        "PAYFLOW_TASK_QUEUE": task_queue,
        "PAYFLOW_WITHDRAWAL_TASK_QUEUE": f"{task_queue}-gate",
        "PAYFLOW_DATABASE_URL": database_url,
        "PAYFLOW_PAYLOAD_KEYS": json.dumps(keys),
        "PAYFLOW_DECISION_KEYS": json.dumps({"bench": base64.b64encode(os.urandom(32)).decode()}),
        "PAYFLOW_API_TOKEN": merchant,
        "PAYFLOW_OPERATOR_TOKEN": operator,
        "PAYFLOW_GATEWAY_PORT": str(gateway_port),
        "PAYFLOW_PUBLIC_URL": url,
        "PAYFLOW_LOG_LEVEL": "WARNING",
        "PAYMENTASSIST_API_URL": sandbox.paymentassist_settings().api_url,
        "PAYMENTASSIST_API_KEY": DEALER_KEY,
        "PAYMENTASSIST_API_SECRET": dealer_secret,
        "PASSIMPAY_API_URL": sandbox.passimpay_url,
        "PASSIMPAY_PLATFORM_ID": str(PLATFORM_ID),
        "PASSIMPAY_API_KEY": platform_key,
    }
    env.pop("PAYFLOW_INSECURE", None)
    return Deployment(env=env, merchant_token=merchant, payload_keys=keys, gateway_url=url)


def start_process(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, *args], env=env, stdout=out, stderr=out, cwd=ROOT)


def start_deployed_worker(deployed: Deployment, log: Path) -> subprocess.Popen[bytes]:
    """`payflow worker`, refusing to start unless it is configured as production wants."""
    return start_process(["-m", "payflow.cli", "worker"], deployed.env, log)


async def start_deployed_gateway(
    deployed: Deployment, log: Path, port: int | None = None
) -> subprocess.Popen[bytes]:
    """`payflow gateway`, once it answers `/healthz`; `port` for a replica beside the first
    (same public URL, so the lender's webhooks still reach the first)."""
    env = deployed.env if port is None else {**deployed.env, "PAYFLOW_GATEWAY_PORT": str(port)}
    url = deployed.gateway_url if port is None else f"http://127.0.0.1:{port}"
    process = start_process(["-m", "payflow.cli", "gateway"], env, log)
    async with httpx.AsyncClient() as http:
        deadline = asyncio.get_running_loop().time() + READY_TIMEOUT
        while asyncio.get_running_loop().time() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the gateway exited: see {log}")
            try:
                if (await http.get(f"{url}/healthz")).status_code == 200:
                    return process
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"the gateway did not answer within {READY_TIMEOUT:g} s: see {log}")
