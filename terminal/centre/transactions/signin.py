"""9001 sign in / 9002 sign out: an operator of a registered institution gets a sign_no that every other
request must carry until it is signed out."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from ..errors import Refused

MAC_RE = re.compile(r"^[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}$")


def _operator(call: Any, opter_no: str, path: str) -> None:
    code = call.institution.fixmedins_code
    if call.db.one("SELECT 1 FROM operators WHERE fixmedins_code = ? AND opter_no = ?", (code, opter_no)) is None:
        raise Refused(f"{path} {opter_no} is not an operator of institution {code}")


def sign_in(call: Any) -> dict[str, Any]:
    f = call.input.obj("signIn")
    opter_no = f.text("opter_no", max_len=30)
    _operator(call, opter_no, f.path("opter_no"))
    f.text("mac", max_len=17, pattern=MAC_RE, what="a MAC address (xx:xx:xx:xx:xx:xx)")
    ip = f.text("ip", max_len=45)
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        raise Refused(f"{f.path('ip')} is not an IP address: {ip!r}") from None
    sign_no = call.new_id("")
    call.db.execute("INSERT INTO signins (sign_no, fixmedins_code, opter_no, sign_time) VALUES (?, ?, ?, ?)",
                    (sign_no, call.institution.fixmedins_code, opter_no, call.time_text))
    return {"signinoutb": {"sign_time": call.time_text, "sign_no": sign_no}}


def sign_out(call: Any) -> dict[str, Any]:
    f = call.input.obj("signOut")
    sign_no = f.text("sign_no", max_len=50)
    opter_no = f.text("opter_no", max_len=30)
    if sign_no != call.envelope.get("sign_no"):
        raise Refused(f"{f.path('sign_no')} {sign_no} is not the envelope's sign_no")
    row = call.db.one("SELECT opter_no FROM signins WHERE sign_no = ?", (sign_no,))
    if row is None or row[0] != opter_no:
        raise Refused(f"{f.path('opter_no')} {opter_no} did not sign in with sign_no {sign_no}")
    call.db.execute("UPDATE signins SET signout_time = ? WHERE sign_no = ?", (call.time_text, sign_no))
    return {"signoutoutb": {"sign_time": call.time_text}}
