"""2601 reversal (冲正): undo a transaction whose answer the counter never got.

Input `data`: omsgid (the lost request's msgid, of this institution), oinfno (2102, 2103, 2207, 2208, Y201,
Y202 or Y301), psn_no (optional). Answer (`ykt`): `found` — whether the centre had processed it.

- Processed and answered infcode 0: every account move of that msgid is undone; a settlement becomes
  `reversed` (it no longer counts in 3201/3202), a revocation is reversed and its settlement counts again.
  A settlement that has since been revoked (2103/2208) cannot be reversed any more (−1).
- Never arrived, or refused: nothing to undo; the msgid is remembered, and should it arrive later it is
  refused — so after a successful 2601 the original can never take effect.
- A second 2601 of the same omsgid answers as the first did (found, already reversed).
"""

from __future__ import annotations

from typing import Any

from .. import store
from ..errors import Refused
from ..wire import msgid_problem
from . import REVERSIBLE


def reverse(call: Any) -> dict[str, Any]:
    f = call.input.obj("data")
    oinfno = f.text("oinfno", max_len=4)
    if oinfno not in REVERSIBLE:
        raise Refused(f"{f.path('oinfno')} {oinfno} is not reversible: 2601 reverses {', '.join(REVERSIBLE)}")
    omsgid = f.text("omsgid", max_len=30)
    problem = msgid_problem(omsgid, call.institution.fixmedins_code)
    if problem:
        raise Refused(f"{f.path('omsgid')}: {problem}")
    if omsgid == call.msgid:
        raise Refused(f"{f.path('omsgid')} is this 2601's own msgid")
    db = call.db
    done = db.one("SELECT found, msgid FROM reversals WHERE omsgid = ?", (omsgid,))
    if done is not None:
        return {"ykt": {"omsgid": omsgid, "oinfno": oinfno, "found": bool(done[0]), "already": True,
                        "by": done[1]}}
    row = db.one("SELECT infno, infcode FROM messages WHERE msgid = ?", (omsgid,))
    found = row is not None and int(row[1]) == 0
    if row is not None and row[0] != oinfno:
        raise Refused(f"{f.path('omsgid')} {omsgid} was a {row[0]}, not a {oinfno}")
    if f.has("psn_no"):
        psn_no = f.text("psn_no", max_len=30)
        owner = db.scalar("SELECT psn_no FROM moves WHERE msgid = ? LIMIT 1", (omsgid,))
        if found and owner is not None and owner != psn_no:
            raise Refused(f"{f.path('psn_no')} {psn_no} is not the person of {omsgid}")
    setl = None
    if found:
        setl = db.one("SELECT setl_id, kind, orig_setl_id, state, mdtrt_id FROM settlements WHERE msgid = ?", (omsgid,))
        if setl is not None:
            setl_id, kind, orig, state, mdtrt_id = setl
            if kind == "settle":
                live = db.scalar("SELECT COUNT(*) FROM settlements WHERE orig_setl_id = ? AND state = 'settled'",
                                 (setl_id,), default=0)
                if live or state == "revoked":
                    raise Refused(f"settlement {setl_id} of {omsgid} has been revoked since: it cannot be reversed")
                db.execute("UPDATE settlements SET state = 'reversed' WHERE setl_id = ?", (setl_id,))
                if mdtrt_id and oinfno == "2207":
                    db.execute("UPDATE visits SET state = 'open' WHERE mdtrt_id = ?", (mdtrt_id,))
                    db.execute("UPDATE fees SET state = 'active' WHERE mdtrt_id = ? AND state = 'settled'", (mdtrt_id,))
            else:
                db.execute("UPDATE settlements SET state = 'reversed' WHERE setl_id = ?", (setl_id,))
                db.execute("UPDATE settlements SET state = 'settled' WHERE setl_id = ? AND state = 'revoked'", (orig,))
                if mdtrt_id and oinfno == "2208":
                    db.execute("UPDATE visits SET state = 'settled' WHERE mdtrt_id = ?", (mdtrt_id,))
                    db.execute("UPDATE fees SET state = 'settled' WHERE mdtrt_id = ? AND state = 'active'", (mdtrt_id,))
        store.undo_moves(db, omsgid, call.msgid, call.time_text)
    db.execute("INSERT INTO reversals (omsgid, oinfno, msgid, fixmedins_code, found, at) VALUES (?, ?, ?, ?, ?, ?)",
               (omsgid, oinfno, call.msgid, call.institution.fixmedins_code, int(found), call.time_text))
    out: dict[str, Any] = {"omsgid": omsgid, "oinfno": oinfno, "found": found, "already": False, "by": call.msgid}
    if setl is not None:
        out["setl_id"] = setl[0]
    return {"ykt": out}
