"""A client of the national platform's numbered transactions (docs/centre.md "Client"): envelopes with msgids,
one POST per transaction, answers checked, and every failure sorted into what the caller must do.

- `CentreRefused` — the centre answered infcode −1: a business answer (`err_msg`), nothing happened;
- `CentreUnreachable` — no answer within the timeout: `sent` says whether the request may have reached the
  centre (a state-changing transaction then has to be confirmed by resending the same msgid, or reversed by
  2601);
- `CentreProtocolError` — an answer that is not the platform's envelope.

Retries of one request reuse its msgid (the centre is idempotent per msgid: a retry returns the first answer).
"""

from __future__ import annotations

import datetime as _dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from terminal.centre.wire import PATH, dumps, format_time, loads, make_msgid

from .errors import CentreProtocolError, CentreRefused, CentreUnreachable

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Institution:
    """Who the counter is at the centre: fixmedins_code (12), name, and its region (mdtrtarea_admvs)."""

    fixmedins_code: str
    fixmedins_name: str
    admvs: str


class MsgIds:
    """msgids of one institution: fixmedins_code ‖ yyyyMMddHHmmss ‖ seq (4 digits). Never the same twice in a
    process; `floor` (the last msgid used, e.g. from the counter's journal after a restart) keeps them growing
    across restarts. When 10,000 ids are used in one second, the next second is borrowed."""

    def __init__(self, institution: str, clock: Callable[[], _dt.datetime], floor: str | None = None) -> None:
        self.institution = institution
        self._clock = clock
        self._lock = threading.Lock()
        self._last = (floor[12:26], int(floor[26:])) if floor else ("", -1)

    def next(self) -> str:
        with self._lock:
            stamp = self._clock().strftime("%Y%m%d%H%M%S")
            last_stamp, last_seq = self._last
            if stamp < last_stamp or (stamp == last_stamp):
                stamp, seq = last_stamp, last_seq + 1
                if seq > 9999:
                    moment = _dt.datetime.strptime(last_stamp, "%Y%m%d%H%M%S") + _dt.timedelta(seconds=1)
                    stamp, seq = moment.strftime("%Y%m%d%H%M%S"), 0
            else:
                seq = 0
            self._last = (stamp, seq)
            return make_msgid(self.institution, _dt.datetime.strptime(stamp, "%Y%m%d%H%M%S"), seq)


@dataclass(frozen=True)
class Reply:
    msgid: str
    output: dict[str, Any]
    answer: dict[str, Any]


class CentreClient:
    """Sends numbered transactions to the centre at `url` (e.g. ``http://127.0.0.1:8790``)."""

    def __init__(
        self,
        url: str,
        institution: Institution,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        clock: Callable[[], _dt.datetime] = _dt.datetime.now,
        msgids: MsgIds | None = None,
        opter: str = "",
        opter_name: str = "",
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.institution = institution
        self.timeout = timeout
        self._clock = clock
        self.msgids = msgids or MsgIds(institution.fixmedins_code, clock)
        self.opter, self.opter_name = opter, opter_name
        self.sign_no = ""
        self._http = httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 1.0)), transport=transport)

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:
        return f"CentreClient({self.url!r}, {self.institution.fixmedins_code})"

    def envelope(self, infno: str, input_: dict[str, Any], *, msgid: str | None = None,
                 insuplc_admdvs: str = "") -> dict[str, Any]:
        inst = self.institution
        return {
            "infno": infno, "msgid": msgid or self.msgids.next(), "mdtrtarea_admvs": inst.admvs,
            "insuplc_admdvs": insuplc_admdvs, "recer_sys_code": "YKT", "infver": "V1.0", "opter_type": "1",
            "opter": self.opter or "-", "opter_name": self.opter_name or "-", "inf_time": format_time(self._clock()),
            "fixmedins_code": inst.fixmedins_code, "fixmedins_name": inst.fixmedins_name, "sign_no": self.sign_no,
            "dev_no": "", "cainfo": "", "signtype": "", "input": input_,
        }

    def post(self, envelope: dict[str, Any], *, timeout: float | None = None) -> dict[str, Any]:
        """Send one envelope; the answer document (infcode 0 or −1). CentreUnreachable without an answer."""
        body = dumps(envelope)
        try:
            kwargs: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
            response = self._http.post(self.url + PATH, content=body,
                                       headers={"Content-Type": "application/json; charset=utf-8"}, **kwargs)
        except httpx.ConnectError as exc:
            raise CentreUnreachable(f"the centre at {self.url} is unreachable ({exc})", sent=False) from None
        except httpx.TimeoutException as exc:
            sent = not isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout))
            raise CentreUnreachable(f"no answer from the centre within {timeout or self.timeout:g} s", sent=sent) from None
        except httpx.TransportError as exc:
            raise CentreUnreachable(f"the connection to the centre broke ({type(exc).__name__})", sent=True) from None
        if response.status_code != 200:
            raise CentreUnreachable(f"the centre answered HTTP {response.status_code}", sent=True)
        try:
            doc = loads(response.content)
        except ValueError:
            raise CentreProtocolError("the centre's answer is not JSON") from None
        if not isinstance(doc, dict) or doc.get("infcode") not in (0, -1):
            raise CentreProtocolError("the centre's answer has no infcode 0 or -1")
        return doc

    def call(self, infno: str, input_: dict[str, Any], *, msgid: str | None = None, insuplc_admdvs: str = "",
             timeout: float | None = None) -> Reply:
        """One transaction: its output, or CentreRefused / CentreUnreachable / CentreProtocolError."""
        envelope = self.envelope(infno, input_, msgid=msgid, insuplc_admdvs=insuplc_admdvs)
        doc = self.post(envelope, timeout=timeout)
        if doc["infcode"] != 0:
            raise CentreRefused(str(doc.get("err_msg") or "refused"), infno=infno, msgid=envelope["msgid"])
        output = doc.get("output")
        if not isinstance(output, dict):
            raise CentreProtocolError(f"the answer to {infno} has no output object")
        return Reply(envelope["msgid"], output, doc)

    # ---- sign-in ----
    def sign_in(self, opter_no: str, opter_name: str = "", *, mac: str = "02:00:00:00:00:01",
                ip: str = "127.0.0.1") -> str:
        """9001: sign the operator in; the sign_no goes into every later envelope."""
        self.opter, self.opter_name = opter_no, opter_name or opter_no
        reply = self.call("9001", {"signIn": {"opter_no": opter_no, "mac": mac, "ip": ip}})
        sign_no = reply.output.get("signinoutb", {}).get("sign_no")
        if not isinstance(sign_no, str) or not sign_no:
            raise CentreProtocolError("9001 answered without a sign_no")
        self.sign_no = sign_no
        return sign_no

    def sign_out(self) -> None:
        """9002 (best effort is the caller's choice); forgets the sign_no either way."""
        sign_no = self.sign_no
        try:
            if sign_no:
                self.call("9002", {"signOut": {"sign_no": sign_no, "opter_no": self.opter}})
        finally:
            self.sign_no = ""
