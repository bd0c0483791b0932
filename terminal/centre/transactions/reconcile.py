"""3201 day totals and 3202 detail reconciliation (对账) of one institution over a date range.

What counts: every settlement and revocation of the institution whose setl_time falls in
[stmt_begndate, stmt_enddate] and that was not reversed by 2601 — a settlement adds its amounts, a
revocation takes its amounts off; `fixmedins_setl_cnt` counts both (a settlement revoked the same day counts
2 with zero amounts). 3201 compares the counter's totals per insutype and clr_type and answers stmt_rslt
0 (balanced) or 1 (not balanced) with the differences; 3202 takes the counter's list (`detail[]`: setl_id,
medfee_sumamt, fund_pay_sumamt, acct_pay, refd_setl_flag 0 settlement / 1 revocation) and lists every
settlement that is missing on either side or differs.
"""

from __future__ import annotations

from typing import Any

from ..errors import Refused
from ..settling import CLR_TYPES
from ..validation import Fields
from ..wire import yuan_of

AMOUNTS = (("medfee_sumamt", "medfee_fen"), ("fund_pay_sumamt", "fund_fen"), ("acct_pay", "acct_fen"))


def _range(f: Fields) -> tuple[str, str]:
    begin, end = f.date("stmt_begndate"), f.date("stmt_enddate")
    if end < begin:
        raise Refused(f"{f.path('stmt_enddate')} {end} is before stmt_begndate {begin}")
    if (end - begin).days > 31:
        raise Refused(f"{f.path('stmt_enddate')}: a reconciliation covers at most 31 days")
    return begin.isoformat(), end.isoformat()


def _rows(call: Any, begin: str, end: str, where: str = "", params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    rows = call.db.query(
        "SELECT setl_id, msgid, kind, psn_no, insutype, clr_type, medfee_fen, fund_fen, acct_fen, mode, orig_setl_id"
        " FROM settlements WHERE fixmedins_code = ? AND setl_day >= ? AND setl_day <= ? AND state <> 'reversed'"
        f"{where} ORDER BY setl_time, msgid", (call.institution.fixmedins_code, begin, end, *params))
    keys = ("setl_id", "msgid", "kind", "psn_no", "insutype", "clr_type", "medfee_fen", "fund_fen", "acct_fen",
            "mode", "orig_setl_id")
    return [dict(zip(keys, r)) for r in rows]


def totals(call: Any) -> dict[str, Any]:
    f = call.input.obj("data")
    insutype = f.text("insutype", max_len=6, choices=("310", "390"))
    clr_type = f.text("clr_type", max_len=6, choices=sorted(set(CLR_TYPES.values())))
    f.text("setl_optins", max_len=6, required=False)
    begin, end = _range(f)
    counter = {wire: f.money(wire) for wire, _ in AMOUNTS}
    count = f.integer("fixmedins_setl_cnt")
    centre = {wire: 0 for wire, _ in AMOUNTS}
    n = 0
    for row in _rows(call, begin, end, " AND insutype = ? AND clr_type = ?", (insutype, clr_type)):
        sign = 1 if row["kind"] == "settle" else -1
        for wire, col in AMOUNTS:
            centre[wire] += sign * row[col]
        n += 1
    diffs = {wire: counter[wire] - centre[wire] for wire, _ in AMOUNTS}
    diffs["fixmedins_setl_cnt"] = count - n
    balanced = not any(diffs.values())
    if balanced:
        text = f"balanced: {n} settlement records, medfee_sumamt {yuan_of(centre['medfee_sumamt'])}"
    else:
        parts = [f"{name} counter {_show(name, counter.get(name, count))} centre "
                 f"{_show(name, centre.get(name, n))} (difference {_show(name, d)})"
                 for name, d in diffs.items() if d]
        text = "not balanced: " + "; ".join(parts)
    return {"stmtinfo": {"setl_optins": call.institution.admvs, "stmt_rslt": "0" if balanced else "1",
                         "stmt_rslt_dscr": text},
            "ykt": {"centre": {**{k: yuan_of(v) for k, v in centre.items()}, "fixmedins_setl_cnt": n},
                    "difference": {k: (v if k == "fixmedins_setl_cnt" else yuan_of(v)) for k, v in diffs.items()}}}


def _show(name: str, value: int) -> str:
    return str(value) if name == "fixmedins_setl_cnt" else str(yuan_of(value))


def details(call: Any) -> dict[str, Any]:
    f = call.input.obj("data")
    f.text("setl_optins", max_len=6, required=False)
    begin, end = _range(f)
    where, params = "", ()
    if f.has("clr_type"):
        where, params = " AND clr_type = ?", (f.text("clr_type", max_len=6, choices=sorted(set(CLR_TYPES.values()))),)
    counter: dict[str, dict[str, Any]] = {}
    for item in call.input.obj("data").items("detail", min_items=0, max_items=10_000):
        setl_id = item.text("setl_id", max_len=40)
        if setl_id in counter:
            raise Refused(f"{item.path('setl_id')} {setl_id} appears twice")
        counter[setl_id] = {"medfee_sumamt": item.money("medfee_sumamt"), "fund_pay_sumamt": item.money("fund_pay_sumamt"),
                            "acct_pay": item.money("acct_pay"),
                            "refd_setl_flag": item.text("refd_setl_flag", max_len=1, choices=("0", "1"))}
    centre = {r["setl_id"]: r for r in _rows(call, begin, end, where, params)}
    diff = []
    for setl_id, row in centre.items():
        mine = {"medfee_sumamt": row["medfee_fen"], "fund_pay_sumamt": row["fund_fen"], "acct_pay": row["acct_fen"],
                "refd_setl_flag": "0" if row["kind"] == "settle" else "1"}
        theirs = counter.get(setl_id)
        if theirs is None:
            diff.append(_entry(row, "missing at the counter", mine, None))
        elif theirs != mine:
            names = [k for k in mine if mine[k] != theirs[k]]
            diff.append(_entry(row, "differs: " + ", ".join(names), mine, theirs))
    for setl_id, theirs in counter.items():
        if setl_id not in centre:
            diff.append({"setl_id": setl_id, "msgid": "", "psn_no": "", "stmt_rslt": "1",
                         "stmt_rslt_dscr": "missing at the centre (unknown, reversed, or outside the range)",
                         "centre": None, "counter": _money(theirs)})
    balanced = not diff
    return {"stmtinfo": {"setl_optins": call.institution.admvs, "stmt_rslt": "0" if balanced else "1",
                         "stmt_rslt_dscr": f"balanced: {len(centre)} settlement records" if balanced
                         else f"not balanced: {len(diff)} settlement records differ"},
            "detail": diff}


def _money(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (yuan_of(v) if isinstance(v, int) else v) for k, v in d.items()}


def _entry(row: dict[str, Any], text: str, mine: dict[str, Any], theirs: dict[str, Any] | None) -> dict[str, Any]:
    return {"setl_id": row["setl_id"], "msgid": row["msgid"], "psn_no": row["psn_no"], "stmt_rslt": "1",
            "stmt_rslt_dscr": text, "centre": _money(mine), "counter": None if theirs is None else _money(theirs)}
