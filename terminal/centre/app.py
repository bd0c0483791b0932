"""The centre's HTTP service (Starlette on uvicorn, the clearing service's stack).

| method | path | what |
|---|---|---|
| POST | `/fsi/api/rsfComIfsService/callService` | one numbered transaction: the envelope in, the answer out (HTTP 200 also for infcode −1, as the platform does) |
| GET | `/health` | `{"ok": true, "service": "ykt-centre", "time": centre time}` |
| GET / PUT / DELETE | `/ykt/faults` | read / set / clear the fault switches (faults.py); only with `admin=True` |

A dropped answer (fault switch `drop`) is committed and then withheld: the request is held open until the
client gives up (at most `drop_hold_s`), and no answer is ever sent.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .centre import Centre
from .faults import Faults
from .wire import PATH, format_time

log = logging.getLogger(__name__)

MAX_BODY = 4 * 1024 * 1024
JSON_TYPE = "application/json; charset=utf-8"


def create_app(centre: Centre, *, admin: bool = True, drop_hold_s: float = 120.0) -> Starlette:
    """The ASGI app over `centre`."""

    async def call_service(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY:
            return Response(b'{"infcode":-1,"err_msg":"request body too large"}', media_type=JSON_TYPE)
        # Blocking but short (one database transaction, well under a millisecond on SQLite): run on the event
        # loop — the centre's database is one connection behind a lock anyway, and a thread hop per request
        # costs more than it saves (docs/centre.md "Benchmark").
        answer = centre.handle(body)
        latency = centre.faults.latency_ms
        if latency:
            await asyncio.sleep(latency / 1000)
        if answer.dropped:
            deadline = time.monotonic() + drop_hold_s
            while time.monotonic() < deadline and not await request.is_disconnected():
                await asyncio.sleep(0.05)
            raise _Dropped()
        return Response(answer.body, media_type=JSON_TYPE)

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True, "service": "ykt-centre", "time": format_time(centre.now())})

    async def faults(request: Request) -> Response:
        if request.method == "PUT":
            try:
                centre.faults.replace_with(Faults.from_json(json.loads(await request.body())))
            except ValueError as exc:
                return JSONResponse({"error": "bad_faults", "message": str(exc)}, status_code=400)
        elif request.method == "DELETE":
            centre.faults.replace_with(Faults())
        return JSONResponse(centre.faults.to_json())

    routes = [Route(PATH, call_service, methods=["POST"]), Route("/health", health, methods=["GET"])]
    if admin:
        routes.append(Route("/ykt/faults", faults, methods=["GET", "PUT", "DELETE"]))
    app = Starlette(routes=routes, exception_handlers={_Dropped: _drop})
    app.state.centre = centre
    return app


class _Dropped(Exception):
    """The answer is withheld (fault switch)."""


async def _drop(request: Request, exc: Exception) -> Response:
    # Never reached by a client that gave up; one that is still there after drop_hold_s gets a 504.
    return Response(b"", status_code=504)


def serve(centre: Centre, host: str = "127.0.0.1", port: int = 8790, log_level: str = "info",
          admin: bool = True) -> None:
    """Run the service with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(create_app(centre, admin=admin), host=host, port=port, log_level=log_level, access_log=False)
