"""The national platform's wire format as yikatong speaks it (shared/reference/medical-platform.md): the JSON
envelope, message ids, times and money in yuan decimals. Used by the centre and by its client alike.

Money is integer fen inside the project and yuan with two decimals on the wire (``12.50``). The conversion is
exact both ways: JSON numbers are parsed as :class:`~decimal.Decimal` (never float) and written from integer
fen as decimal text.

    >>> fen_of(Decimal("12.50"), "medfee_sumamt"), yuan_of(1250)
    (1250, Decimal('12.50'))
    >>> loads(dumps({"amt": yuan_of(5)}))
    {'amt': Decimal('0.05')}
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

PATH = "/fsi/api/rsfComIfsService/callService"  # the platform's one endpoint for numbered transactions
INFVER = "V1.0"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # inf_time, setl_time, … (19 characters)
MSGID_RE = re.compile(r"^([0-9A-Z]{12})([0-9]{14})([0-9]{4})$")
INSTITUTION_RE = re.compile(r"^[0-9A-Z]{12}$")
MAX_FEN = 10**11  # 10 亿元: a bigger amount is a typo

_SENTINEL = "\x00Y"
_DECIMAL_RE = re.compile(r'"\\u0000Y(-?[0-9]+(?:\.[0-9]+)?)"')
_MONEY_TEXT = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,2})?$")


class MoneyError(ValueError):
    """A wire amount that is not a non-negative yuan decimal with at most two decimals."""


def yuan_of(fen: int) -> Decimal:
    """Integer fen → the wire's yuan decimal with exactly two decimals (1250 → Decimal('12.50'))."""
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise TypeError(f"fen must be int, got {type(fen).__name__} {fen!r}")
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return Decimal(f"{sign}{whole}.{cents:02d}")


def fen_of(value: object, name: str) -> int:
    """A wire amount (JSON number parsed as Decimal or int, or decimal text) → integer fen, exactly.

    Refuses floats, booleans, negative amounts, more than two decimals, NaN/Infinity and absurd sizes with a
    MoneyError naming the field."""
    if isinstance(value, bool) or value is None:
        raise MoneyError(f"{name} must be an amount in yuan, got {json_text(value)}")
    if isinstance(value, float):
        raise MoneyError(f"{name} must be an exact decimal, not a binary float")
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, Decimal):
        number = value
    elif isinstance(value, str) and _MONEY_TEXT.match(value.strip()):
        number = Decimal(value.strip())
    else:
        raise MoneyError(f"{name} must be an amount in yuan, got {json_text(value)}")
    if not number.is_finite():
        raise MoneyError(f"{name} must be a finite amount, got {number}")
    if number < 0:
        raise MoneyError(f"{name} must not be negative, got {number}")
    try:
        cents = number.scaleb(2)
        if cents != cents.to_integral_value():
            raise MoneyError(f"{name} has more than two decimals: {number}")
        fen = int(cents)
    except InvalidOperation:
        raise MoneyError(f"{name} is not a usable amount: {number}") from None
    if fen > MAX_FEN:
        raise MoneyError(f"{name} is too large: {number}")
    return fen


def json_text(value: object) -> str:
    """A short JSON-ish rendering of a bad value for an error message."""
    if isinstance(value, Decimal):
        return str(value)
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _prepare(value: Any) -> Any:
    if isinstance(value, Decimal):
        return _SENTINEL + format(value, "f")
    if isinstance(value, dict):
        return {k: _prepare(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_prepare(v) for v in value]
    if isinstance(value, float):
        raise TypeError("floats are never put on the wire: use Decimal or int")
    return value


def dumps(document: Any, *, indent: int | None = None) -> bytes:
    """UTF-8 JSON with Decimal amounts written as exact numbers (``12.50``), never through float; compact, or
    indented for people with `indent`."""
    text = json.dumps(_prepare(document), ensure_ascii=False, indent=indent,
                      separators=None if indent else (",", ":"))
    return _DECIMAL_RE.sub(r"\1", text).encode("utf-8")


def loads(body: bytes | str) -> Any:
    """JSON with every non-integer number as Decimal. ValueError for anything that is not JSON."""
    return json.loads(body, parse_float=Decimal, parse_constant=_refuse_constant)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def format_time(moment: _dt.datetime) -> str:
    return moment.strftime(TIME_FORMAT)


def parse_time(text: str) -> _dt.datetime:
    """`yyyy-MM-dd HH:mm:ss` → naive datetime; ValueError otherwise."""
    if not isinstance(text, str) or len(text) != 19:
        raise ValueError(text)
    return _dt.datetime.strptime(text, TIME_FORMAT)


def make_msgid(institution: str, moment: _dt.datetime, seq: int) -> str:
    """institution code (12) ‖ yyyyMMddHHmmss (14) ‖ seq (4): the 30-character msgid."""
    if not INSTITUTION_RE.match(institution):
        raise ValueError(f"fixmedins_code must be 12 upper-case letters/digits, got {institution!r}")
    if not 0 <= seq <= 9999:
        raise ValueError(f"msgid seq must be 0..9999, got {seq}")
    return f"{institution}{moment.strftime('%Y%m%d%H%M%S')}{seq:04d}"


def msgid_problem(msgid: object, institution: str | None) -> str | None:
    """Why `msgid` is not a well-formed message id of `institution` (None when it is)."""
    if not isinstance(msgid, str):
        return f"msgid must be a 30-character string, got {json_text(msgid)}"
    m = MSGID_RE.match(msgid)
    if m is None:
        return (f"msgid must be 30 characters: fixmedins_code (12) + yyyyMMddHHmmss (14) + seq (4), "
                f"got {json_text(msgid)} ({len(msgid)} characters)")
    try:
        _dt.datetime.strptime(m.group(2), "%Y%m%d%H%M%S")
    except ValueError:
        return f"msgid {msgid}: {m.group(2)} is not a valid yyyyMMddHHmmss time"
    if institution is not None and m.group(1) != institution:
        return f"msgid {msgid} does not start with the fixmedins_code {institution}"
    return None


def request(
    infno: str,
    msgid: str,
    input_: dict[str, Any],
    *,
    fixmedins_code: str,
    fixmedins_name: str,
    mdtrtarea_admvs: str,
    insuplc_admdvs: str = "",
    sign_no: str = "",
    opter: str = "",
    opter_name: str = "",
    opter_type: str = "1",
    inf_time: str,
    dev_no: str = "",
    recer_sys_code: str = "YKT",
) -> dict[str, Any]:
    """A request envelope with every field of medical-platform.md (cainfo / signtype empty: the simulated
    centre does not check message signatures)."""
    return {
        "infno": infno, "msgid": msgid, "mdtrtarea_admvs": mdtrtarea_admvs, "insuplc_admdvs": insuplc_admdvs,
        "recer_sys_code": recer_sys_code, "infver": INFVER, "opter_type": opter_type, "opter": opter,
        "opter_name": opter_name, "inf_time": inf_time, "fixmedins_code": fixmedins_code,
        "fixmedins_name": fixmedins_name, "sign_no": sign_no, "dev_no": dev_no, "cainfo": "", "signtype": "",
        "input": input_,
    }
