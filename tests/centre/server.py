"""A real centre service (uvicorn on 127.0.0.1) in a thread, for the tests: start, stop, start again on the same
port (the centre "down mid-day" and back)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn

from terminal.centre import Centre
from terminal.centre.app import create_app


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class CentreServer:
    def __init__(self, centre: Centre, port: int | None = None, *, drop_hold_s: float = 10.0) -> None:
        self.centre = centre
        self.port = port or free_port()
        self.drop_hold_s = drop_hold_s
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> CentreServer:
        config = uvicorn.Config(create_app(self.centre, drop_hold_s=self.drop_hold_s), host="127.0.0.1",
                                port=self.port, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="centre-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the centre server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=15)
            self._server = self._thread = None

    def __enter__(self) -> CentreServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
