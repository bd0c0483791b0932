"""How the sync client reaches the clearing service: signed HTTP (httpx), or a clearing house in the same
process (simulations, tests). Both raise `TransientError` for what a retry may fix and `RefusedError` for a
refusal."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any, Protocol

from terminal.clearing import auth
from terminal.clearing.errors import AuthError, BatchRejected, UnknownArtifact

from .errors import RefusedError, SyncError, TransientError


class Transport(Protocol):
    terminal_id: str

    def cursor(self) -> int: ...

    def upload(self, records: list[dict[str, Any]]) -> dict[str, Any]: ...

    def updates(self) -> dict[str, Any]: ...

    def artifact(self, kind: str, version: int) -> bytes: ...


class HttpTransport:
    """Signed requests (terminal/clearing/auth.py) to `base_url` with an `httpx.Client` (or Starlette's
    TestClient, which is one). A `clock_skew` refusal sets the clock offset from the server's time and the
    request is signed again once."""

    def __init__(self, base_url: str, terminal_id: str, key: bytes, *, client: Any = None, timeout: float = 30.0,
                 clock: Any = time.time) -> None:
        import httpx

        self.terminal_id = auth.normalise_terminal(terminal_id)
        self._key = key
        self._clock = clock
        self.offset = 0
        self._base = base_url.rstrip("/")
        self._client = client if client is not None else httpx.Client(base_url=self._base, timeout=timeout)
        self._httpx = httpx

    def __repr__(self) -> str:
        return f"HttpTransport({self._base!r}, terminal_id={self.terminal_id!r})"

    def close(self) -> None:
        self._client.close()

    def _request(self, method: str, path: str, body: bytes = b"") -> Any:
        for attempt in (1, 2):
            headers = auth.sign(self._key, method, path, "", self.terminal_id, int(self._clock()) + self.offset, body)
            if body:
                headers["Content-Type"] = "application/json"
            try:
                response = self._client.request(method, path, content=body or None, headers=headers)
            except self._httpx.HTTPError as exc:  # connect / read / write errors and timeouts
                raise TransientError(f"cannot reach the clearing service ({type(exc).__name__}: {exc})") from None
            if response.status_code < 300:
                return response
            try:
                doc = response.json()
            except ValueError:
                doc = {}
            code, message = str(doc.get("error", response.status_code)), str(doc.get("message", response.text[:200]))
            if response.status_code >= 500 or response.status_code == 429:
                raise TransientError(f"the clearing service answered {response.status_code}: {message}")
            if code == "clock_skew" and attempt == 1 and isinstance(doc.get("server_time"), int):
                self.offset = doc["server_time"] - int(self._clock())
                continue
            raise RefusedError(code, f"the clearing service refused {method} {path}: {message}", response.status_code, doc)
        raise RefusedError("clock_skew", "the clearing service still refuses this terminal's clock")

    def cursor(self) -> int:
        return int(self._request("GET", "/v1/cursor").json()["cursor"])

    def upload(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        body = json.dumps({"terminal_id": self.terminal_id, "records": records}, ensure_ascii=False,
                          separators=(",", ":")).encode("utf-8")
        return self._request("POST", "/v1/batches", body).json()

    def updates(self) -> dict[str, Any]:
        return self._request("GET", "/v1/updates").json()

    def artifact(self, kind: str, version: int) -> bytes:
        response = self._request("GET", f"/v1/artifacts/{kind}/{int(version)}")
        content = response.content
        expected = response.headers.get("X-Ykt-Sha256")
        if expected and hashlib.sha256(content).hexdigest() != expected:
            raise TransientError(f"{kind} version {version} arrived damaged (SHA-256 mismatch)")
        return content

    def settlement(self, day: str) -> dict[str, Any]:
        return self._request("GET", f"/v1/settlements/{day}").json()


class LocalTransport:
    """A clearing house in this process (no HTTP, no signatures: the caller is trusted as `terminal_id`)."""

    def __init__(self, house: Any, terminal_id: str) -> None:
        self.house = house
        self.terminal_id = auth.normalise_terminal(terminal_id)

    def cursor(self) -> int:
        return self.house.cursor(self.terminal_id)

    def upload(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        try:
            return self.house.ingest(self.terminal_id, records).to_json()
        except BatchRejected as exc:
            raise RefusedError("bad_batch", str(exc)) from None

    def updates(self) -> dict[str, Any]:
        return self.house.latest()

    def artifact(self, kind: str, version: int) -> bytes:
        try:
            return self.house.artifact(kind, version)
        except UnknownArtifact as exc:
            raise RefusedError("unknown_artifact", str(exc), 404) from None


__all__ = ["AuthError", "HttpTransport", "LocalTransport", "SyncError", "Transport"]
