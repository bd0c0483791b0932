"""Revoking a settlement, wholly or by lines (2103, 2208, and the offline refund upload Y202).

The platform's 2103/2208 revoke a whole settlement; yikatong's optional `ykt_lines` (a list of feedetl_sn)
revokes only those lines — the counter's partial refunds. Either way the engine's `refund` reverses exactly
the original parts of the lines (never re-settling), takes the restored deductible and pooled-fund parts off
the centre's counters, and gives the personal-account part back: to the account at the centre, or — for an
offline refund that went back onto the card's ED — to the offline allowance.
"""

from __future__ import annotations

import json
from typing import Any

from terminal.medical import RefundError, YearToDate
from terminal.medical import refund as engine_refund

from .. import store
from ..errors import Refused
from ..settling import record, setlinfo_fen, settlement_of, ytd_wire
from ..validation import Fields
from ..wire import json_text, yuan_of

REVOKED_BY = {"2102": "2103", "Y201": "2103", "2207": "2208"}


def find_settlement(call: Any, f: Fields, settled_by: tuple[str, ...]) -> dict[str, Any]:
    setl_id = f.text("setl_id", max_len=40)
    row = call.db.one("SELECT setl_id, infno, fixmedins_code, psn_no, mdtrt_id, med_type, state, detail, mode"
                      " FROM settlements WHERE setl_id = ? AND kind = 'settle'", (setl_id,))
    if row is None or row[2] != call.institution.fixmedins_code:
        raise Refused(f"{f.path('setl_id')} {setl_id} is not a settlement of institution "
                      f"{call.institution.fixmedins_code}")
    keys = ("setl_id", "infno", "fixmedins_code", "psn_no", "mdtrt_id", "med_type", "state", "detail", "mode")
    s = dict(zip(keys, row))
    if s["infno"] not in settled_by:
        raise Refused(f"setl_id {setl_id} was settled by {s['infno']}: revoke it with {REVOKED_BY.get(s['infno'], '?')}")
    psn_no = f.text("psn_no", max_len=30)
    if psn_no != s["psn_no"]:
        raise Refused(f"{f.path('psn_no')} {psn_no} is not the person of settlement {setl_id}")
    if s["state"] == "reversed":
        raise Refused(f"setl_id {setl_id} was reversed by 2601: there is nothing to revoke")
    if s["state"] == "revoked":
        raise Refused(f"setl_id {setl_id} is already revoked")
    return s


def taken_lines(call: Any, setl_id: str) -> set[int]:
    taken: set[int] = set()
    for (detail,) in call.db.query("SELECT detail FROM settlements WHERE orig_setl_id = ? AND kind = 'revoke'"
                                   " AND state = 'settled'", (setl_id,)):
        taken |= set(json.loads(detail)["lines"])
    return taken


def chosen_lines(f: Fields, detail: dict[str, Any]) -> list[int] | None:
    """Indexes of the `ykt_lines` feedetl_sn (None: every line not yet revoked)."""
    value = f.raw("ykt_lines")
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise Refused(f"{f.path('ykt_lines')} must be a non-empty list of feedetl_sn, got {json_text(value)}")
    by_sn = {e["sn"]: i for i, e in enumerate(detail["lines"])}
    unknown = [sn for sn in value if sn not in by_sn]
    if unknown:
        raise Refused(f"{f.path('ykt_lines')}: {', '.join(unknown)} not a line of the settlement")
    return [by_sn[sn] for sn in value]


def revoke(call: Any, f: Fields, settled_by: tuple[str, ...], *, to_allowance: bool = False,
           year: int | None = None, ytd: YearToDate | None = None, offline_ref: str | None = None,
           setl_time: str | None = None) -> dict[str, Any]:
    s = find_settlement(call, f, settled_by)
    detail = json.loads(s["detail"])
    original = settlement_of(detail, call)
    year = year or call.now.year
    if original.visit.on.year != year:
        raise Refused(f"setl_id {s['setl_id']} belongs to {original.visit.on.year}: it cannot be revoked in {year}")
    acct = store.account(call.db, s["psn_no"], for_update=True)
    try:
        r = engine_refund(original, chosen_lines(f, detail), ytd=ytd or acct.ytd(year),
                          already_refunded=taken_lines(call, s["setl_id"]))
    except RefundError as exc:
        raise Refused(f"setl_id {s['setl_id']}: {exc}") from None
    when = setl_time or call.time_text
    after = store.move(call.db, call.msgid, acct, "revoke", year=year, at=call.time_text,
                       balc=0 if to_allowance else r.account_fen, allowance=r.account_fen if to_allowance else 0,
                       ytd_before=r.ytd_before if ytd is None else acct.ytd(year),
                       ytd_after=r.ytd_after if ytd is None else _minus(acct.ytd(year), r.ytd_before, r.ytd_after))
    money = setlinfo_fen(r.totals.to_setlinfo())
    setl_id = call.new_id("R")
    person = store.person(call.db, s["psn_no"])
    sns = [detail["lines"][i]["sn"] for i in r.line_indexes]
    record(call, setl_id=setl_id, kind="revoke", person=person, mdtrt_id=s["mdtrt_id"], med_type=s["med_type"],
           setl_time=when, mode="offline" if to_allowance else "online", money=money,
           acct_source="card" if to_allowance else "centre", orig_setl_id=s["setl_id"], offline_ref=offline_ref,
           detail=json.dumps({"lines": list(r.line_indexes), "sns": sns}))
    fully = len(taken_lines(call, s["setl_id"])) == len(detail["lines"])
    if fully:
        call.db.execute("UPDATE settlements SET state = 'revoked' WHERE setl_id = ?", (s["setl_id"],))
    return {
        "setlinfo": {"setl_id": setl_id, "mdtrt_id": s["mdtrt_id"] or "", "psn_no": s["psn_no"], "setl_time": when,
                     "med_type": s["med_type"], **{k: yuan_of(v) for k, v in money.items()},
                     "balc": yuan_of(after.balc_fen)},
        "ykt": {"orig_setl_id": s["setl_id"], "lines": sns, "fully_revoked": fully,
                "ytd_after": ytd_wire(after.ytd(year)), "balc": yuan_of(after.balc_fen),
                "allowance": yuan_of(after.allowance_fen)},
    }


def _minus(current: YearToDate, before: YearToDate, after: YearToDate) -> YearToDate:
    """`current` moved by (after − before), floored at zero (an offline refund restores the card's counters;
    the centre's may differ when they diverged)."""
    return YearToDate(max(0, current.deductible_used_fen + after.deductible_used_fen - before.deductible_used_fen),
                      max(0, current.pooled_paid_fen + after.pooled_paid_fen - before.pooled_paid_fen),
                      max(0, current.inpatient_pooled_paid_fen + after.inpatient_pooled_paid_fen
                          - before.inpatient_pooled_paid_fen))
