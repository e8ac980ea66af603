"""`payflow codec-server`: the Temporal UI's remote codec on its own, off the public gateway.

Same protocol as the gateway's `/codec` routes (`POST /decode`, `POST /encode`, a JSON body
`{"payloads": [{"metadata": {...}, "data": "..."}]}`), for operators who keep the decrypting
endpoint on an internal address. An operator's bearer token is required when one is configured;
CORS lets the Temporal UI's origin call it from the browser.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Body, Depends, FastAPI, HTTPException, Security, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from temporalio.converter import PayloadCodec

from gateway.access import AccessTokens, Role
from gateway.codec import install_codec_cors, open_payloads, seal_payloads
from gateway.errors import install_error_handlers
from gateway.tracing import FASTAPI_TELEMETRY_OFF

logger = logging.getLogger("payflow.codec_server")
BEARER = HTTPBearer(auto_error=False, description="An operator's token (PAYFLOW_OPERATOR_TOKEN).")


def create_codec_app(
    codec: PayloadCodec, access: AccessTokens, ui_origins: list[str] | tuple[str, ...] = ()
) -> FastAPI:
    """The codec endpoint: open for anyone when no operator token is configured (bind it to a
    private address then), else only for an operator's token (401 without, 403 for another)."""
    app = FastAPI(title="payflow codec server", version="0.1.0", telemetry=FASTAPI_TELEMETRY_OFF)
    install_error_handlers(app)  # refusals as problem details, like the gateway's

    def operator_only(
        credentials: HTTPAuthorizationCredentials | None = Security(BEARER),
    ) -> None:
        if not access.operators:
            return
        who = access.identify(credentials.credentials) if credentials else None
        if who is None:
            logger.info("refused a codec call: missing or unknown token")
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing or unknown bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if who.role != Role.OPERATOR:
            logger.info("refused a codec call to the %s token", who.role.value)
            raise HTTPException(status.HTTP_403_FORBIDDEN, "the codec needs an operator's token")

    @app.post("/decode", dependencies=[Depends(operator_only)])
    async def decode(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        """Open sealed payloads (the Temporal UI shows them decoded)."""
        return await open_payloads(codec, body)

    @app.post("/encode", dependencies=[Depends(operator_only)])
    async def encode(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        """Seal payloads the UI sends (a signal or query argument typed in by an operator)."""
        return await seal_payloads(codec, body)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    if ui_origins:
        install_codec_cors(app, ui_origins)
    return app
