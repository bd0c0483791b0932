"""The HTTP service (Starlette, JSON; served by uvicorn through `ykt clearing serve`).

| method | path | auth | what |
|---|---|---|---|
| GET | `/v1/health` | none | `{"ok": true, "time": unix seconds}` (a terminal corrects its clock with it) |
| GET | `/v1/cursor` | terminal | `{"terminal_id", "cursor"}`: the last outbox seq held without gaps |
| POST | `/v1/batches` | terminal | upload `{"terminal_id", "records": [...]}` → the ingest result (`cursor`, counts, quarantined, conflicts) |
| GET | `/v1/updates` | terminal | latest `{"hotlist"|"policy"|"fares": {"version", "sha256", "size"}}` |
| GET | `/v1/artifacts/{kind}/{version}` | terminal | the published bytes (`X-Ykt-Sha256` header) |
| GET | `/v1/settlements/{day}` | terminal | the day's settlement lines of the terminal's merchant |

Errors are JSON `{"error": code, "message": …}`: 400 bad batch, 401 unauthenticated (`code` says why:
missing, malformed, unknown_terminal, bad_signature, clock_skew with `server_time`, replayed), 403 disabled
terminal or another terminal's id in the body, 404 unknown artifact, 413 body too large.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .clock import unix_now
from .errors import AuthError, BatchRejected, UnknownArtifact
from .house import ARTIFACT_KINDS, ClearingHouse

log = logging.getLogger(__name__)

MAX_BODY = 32 * 1024 * 1024
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": code, "message": message, **extra}, status_code=status)


Handler = Callable[[Request, str, bytes], Awaitable[Response]]


def create_app(house: ClearingHouse) -> Starlette:
    """The ASGI app over `house` (tests drive it with Starlette's TestClient)."""

    def authenticated(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            declared = request.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
                return _error(413, "too_large", f"body over {MAX_BODY} bytes")
            body = await request.body()
            if len(body) > MAX_BODY:
                return _error(413, "too_large", f"body over {MAX_BODY} bytes")
            try:
                terminal = await run_in_threadpool(
                    house.authenticate, request.headers, request.method, request.url.path, request.url.query, body)
            except AuthError as exc:
                extra = {"server_time": unix_now()} if exc.code == "clock_skew" else {}
                status = 403 if exc.code == "disabled" else 401
                log.info("refused %s %s: %s", request.method, request.url.path, exc)
                return _error(status, exc.code, str(exc), **extra)
            return await handler(request, terminal, body)

        return endpoint

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True, "time": unix_now(), "service": "ykt-clearing"})

    async def cursor(request: Request, terminal: str, body: bytes) -> Response:
        value = await run_in_threadpool(house.cursor, terminal)
        return JSONResponse({"terminal_id": terminal, "cursor": value})

    async def batches(request: Request, terminal: str, body: bytes) -> Response:
        try:
            doc = json.loads(body)
        except ValueError:
            return _error(400, "bad_batch", "the body is not JSON")
        if not isinstance(doc, dict) or "records" not in doc:
            return _error(400, "bad_batch", 'the body is {"terminal_id": …, "records": [...]}')
        if str(doc.get("terminal_id", "")).upper() != terminal:
            return _error(403, "wrong_terminal", f"terminal {terminal} may upload only its own records")
        try:
            result = await run_in_threadpool(house.ingest, terminal, doc["records"])
        except BatchRejected as exc:
            return _error(400, "bad_batch", str(exc))
        return JSONResponse(result.to_json())

    async def updates(request: Request, terminal: str, body: bytes) -> Response:
        return JSONResponse(await run_in_threadpool(house.latest))

    async def artifact(request: Request, terminal: str, body: bytes) -> Response:
        kind, version = request.path_params["kind"], request.path_params["version"]
        if kind not in ARTIFACT_KINDS:
            return _error(404, "unknown_artifact", f"no artifact kind {kind!r}")
        try:
            content = await run_in_threadpool(house.artifact, kind, int(version))
        except UnknownArtifact as exc:
            return _error(404, "unknown_artifact", str(exc))
        import hashlib

        return Response(content, media_type="application/octet-stream",
                        headers={"X-Ykt-Sha256": hashlib.sha256(content).hexdigest()})

    async def settlements(request: Request, terminal: str, body: bytes) -> Response:
        day = request.path_params["day"]
        if not _DAY.fullmatch(day):
            return _error(400, "bad_day", "the day is YYYY-MM-DD")
        merchant = await run_in_threadpool(house.merchant_of, terminal)
        report = await run_in_threadpool(lambda: house.report(day, merchant_id=merchant))
        return JSONResponse(report)

    routes = [
        Route("/v1/health", health, methods=["GET"]),
        Route("/v1/cursor", authenticated(cursor), methods=["GET"]),
        Route("/v1/batches", authenticated(batches), methods=["POST"]),
        Route("/v1/updates", authenticated(updates), methods=["GET"]),
        Route("/v1/artifacts/{kind}/{version:int}", authenticated(artifact), methods=["GET"]),
        Route("/v1/settlements/{day}", authenticated(settlements), methods=["GET"]),
    ]
    app = Starlette(routes=routes)
    app.state.house = house
    return app


def serve(house: ClearingHouse, host: str = "127.0.0.1", port: int = 8780, log_level: str = "info") -> None:
    """Run the service with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(create_app(house), host=host, port=port, log_level=log_level, access_log=False)
