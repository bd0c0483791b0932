"""The clinic sequence: 2201 register (→ mdtrt_id) → 2203 visit information (med_type 11 ordinary / 14
chronic-special outpatient) → 2204 fee details (per line back: chrgitm_lv, selfpay_prop, fulamt_ownpay_amt,
preselfpay_amt, inscp_scp_amt) → 2206 pre-settlement → 2207 settlement (2208 revokes); 2205 revokes uploaded
fee details of a batch (chrg_bchno, "0000" = all) before settlement."""

from __future__ import annotations

from typing import Any

from terminal.medical import ItemClass, round_half_up

from .. import persons, settling, store
from ..errors import Refused
from ..validation import Fields
from ..wire import yuan_of
from .revoke import revoke as revoke_settlement

ALL_BATCHES = "0000"


def _clinic(call: Any) -> None:
    if call.institution.kind != "clinic":
        raise Refused(f"institution {call.institution.fixmedins_code} is a {call.institution.kind}: the clinic "
                      "transactions (22xx) are for clinics and hospitals")


def _visit(call: Any, f: Fields, *, psn_no: str | None = None, open_only: bool = True) -> dict[str, Any]:
    mdtrt_id = f.text("mdtrt_id", max_len=40)
    row = call.db.one("SELECT mdtrt_id, fixmedins_code, psn_no, insutype, med_type, state FROM visits"
                      " WHERE mdtrt_id = ?", (mdtrt_id,))
    if row is None or row[1] != call.institution.fixmedins_code:
        raise Refused(f"{f.path('mdtrt_id')} {mdtrt_id} is not a visit registered (2201) at "
                      f"{call.institution.fixmedins_code}")
    visit = dict(zip(("mdtrt_id", "fixmedins_code", "psn_no", "insutype", "med_type", "state"), row))
    given = psn_no if psn_no is not None else f.text("psn_no", max_len=30)
    if given != visit["psn_no"]:
        raise Refused(f"{f.path('psn_no')} {given} is not the person of visit {mdtrt_id}")
    if open_only and visit["state"] != "open":
        raise Refused(f"visit {mdtrt_id} is {visit['state']}: no more changes")
    return visit


def register(call: Any) -> dict[str, Any]:
    _clinic(call)
    f = call.input.obj("data")
    person = persons.for_settlement(call, f)
    f.time("begntime")
    ipt_otp_no = f.text("ipt_otp_no", max_len=30)
    dept_code = f.text("dept_code", max_len=30)
    for name in ("atddr_no", "dr_name", "dept_name", "caty"):
        f.text(name, max_len=50, required=False)
    other = call.db.scalar("SELECT mdtrt_id FROM visits WHERE fixmedins_code = ? AND ipt_otp_no = ?",
                           (call.institution.fixmedins_code, ipt_otp_no))
    if other is not None:
        raise Refused(f"{f.path('ipt_otp_no')} {ipt_otp_no} is already registered as visit {other}")
    mdtrt_id = call.new_id("M")
    call.db.execute("INSERT INTO visits (mdtrt_id, fixmedins_code, psn_no, insutype, begntime, ipt_otp_no, dept_code,"
                    " state, msgid) VALUES (?, ?, ?, ?, ?, ?, ?, 'open', ?)",
                    (mdtrt_id, call.institution.fixmedins_code, person.psn_no, person.insutype,
                     f.text("begntime"), ipt_otp_no, dept_code, call.msgid))
    return {"data": {"mdtrt_id": mdtrt_id, "psn_no": person.psn_no, "ipt_otp_no": ipt_otp_no}}


def visit_info(call: Any) -> dict[str, Any]:
    _clinic(call)
    f = call.input.obj("mdtrtinfo")
    visit = _visit(call, f)
    med_type = settling.med_type_of(call, f, ("11", "14"))
    f.time("begntime")
    dise_codg = f.text("dise_codg", max_len=30, required=med_type == "14",
                       what="a chronic/special disease code for med_type 14")
    if "diseinfo" in call.input.data:
        for d in call.input.items("diseinfo", min_items=0, max_items=50):
            d.text("diag_type", max_len=3)
            d.text("diag_code", max_len=30)
            d.text("diag_name", max_len=100)
    call.db.execute("UPDATE visits SET med_type = ?, dise_codg = ? WHERE mdtrt_id = ?",
                    (med_type, dise_codg or None, visit["mdtrt_id"]))
    return {}


def upload_fees(call: Any) -> dict[str, Any]:
    _clinic(call)
    items = call.input.items("feedetail")
    first = items[0]
    visit = _visit(call, first)
    if not visit["med_type"]:
        raise Refused(f"visit {visit['mdtrt_id']} has no visit information yet: send 2203 first")
    for f in items:
        if f.text("mdtrt_id", max_len=40) != visit["mdtrt_id"] or f.text("psn_no", max_len=30) != visit["psn_no"]:
            raise Refused(f"{f.where}: every fee line of one upload must name the same mdtrt_id and psn_no")
        f.text("chrg_bchno", max_len=30)
        f.time("fee_ocur_time", required=False)
    lines = settling.read_lines(call, items)
    for f, line in zip(items, lines):
        if call.db.one("SELECT 1 FROM fees WHERE mdtrt_id = ? AND feedetl_sn = ? AND state <> 'revoked'",
                       (visit["mdtrt_id"], line.sn)):
            raise Refused(f"{f.path('feedetl_sn')} {line.sn} is already uploaded for visit {visit['mdtrt_id']}")
    person = store.person(call.db, visit["psn_no"])
    policy = settling.policy_of(call, person)
    result = []
    for f, line in zip(items, lines):
        call.db.execute("DELETE FROM fees WHERE mdtrt_id = ? AND feedetl_sn = ? AND state = 'revoked'",
                        (visit["mdtrt_id"], line.sn))
        call.db.execute("INSERT INTO fees (mdtrt_id, feedetl_sn, chrg_bchno, med_list_codg, cnt, pric_fen, amount_fen,"
                        " state, msgid) VALUES (?, ?, ?, ?, ?, ?, ?, 'active', ?)",
                        (visit["mdtrt_id"], line.sn, f.text("chrg_bchno"), line.item.code, line.cnt, line.pric_fen,
                         line.amount_fen, call.msgid))
        cls = line.item.item_class
        selfpay = line.amount_fen if cls is ItemClass.C else 0
        pre = round_half_up(line.amount_fen * policy.preselfpay_percent, 100) if cls is ItemClass.B else 0
        result.append({"feedetl_sn": line.sn, "det_item_fee_sumamt": yuan_of(line.amount_fen), "cnt": line.cnt,
                       "pric": yuan_of(line.pric_fen), "pric_uplmt_amt": yuan_of(line.item.unit_price_fen),
                       "selfpay_prop": settling._selfpay_prop(cls, policy.preselfpay_percent),
                       "fulamt_ownpay_amt": yuan_of(selfpay), "overlmt_amt": yuan_of(0),
                       "preselfpay_amt": yuan_of(pre), "inscp_scp_amt": yuan_of(line.amount_fen - selfpay - pre),
                       "chrgitm_lv": cls.chrgitm_lv})
    return {"result": result}


def revoke_fees(call: Any) -> dict[str, Any]:
    _clinic(call)
    f = call.input.obj("data")
    visit = _visit(call, f)
    batch = f.text("chrg_bchno", max_len=30)
    where, params = ("", ()) if batch == ALL_BATCHES else (" AND chrg_bchno = ?", (batch,))
    changed = call.db.execute(f"UPDATE fees SET state = 'revoked' WHERE mdtrt_id = ? AND state = 'active'{where}",
                              (visit["mdtrt_id"], *params))
    if not changed:
        raise Refused(f"{f.path('chrg_bchno')}: visit {visit['mdtrt_id']} has no uploaded fee details in batch {batch}")
    return {}


def _fee_lines(call: Any, visit: dict[str, Any], batch: str) -> list[settling.Line]:
    where, params = ("", ()) if batch == ALL_BATCHES else (" AND chrg_bchno = ?", (batch,))
    rows = call.db.query(f"SELECT feedetl_sn, med_list_codg, cnt, pric_fen, amount_fen FROM fees WHERE mdtrt_id = ?"
                         f" AND state = 'active'{where} ORDER BY feedetl_sn", (visit["mdtrt_id"], *params))
    if not rows:
        raise Refused(f"visit {visit['mdtrt_id']} has no uploaded fee details in batch {batch}: send 2204 first")
    catalog = call.centre.catalog
    return [settling.Line(sn, catalog[code], cnt, pric, amount) for sn, code, cnt, pric, amount in rows]


def _settle(call: Any, *, commit: bool) -> dict[str, Any]:
    _clinic(call)
    f = call.input.obj("data")
    person = persons.for_settlement(call, f)
    visit = _visit(call, f, psn_no=person.psn_no)
    med_type = settling.med_type_of(call, f, ("11", "14"))
    if med_type != visit["med_type"]:
        raise Refused(f"{f.path('med_type')} {med_type} is not the visit's med_type {visit['med_type']} (2203)")
    f.text("psn_setlway", max_len=2, choices=("01", "02"), required=False)
    batch = f.text("chrg_bchno", max_len=30)
    use_account = f.flag("acct_used_flag") == "1"
    lines = _fee_lines(call, visit, batch)
    settling.check_total(f, lines)
    mdtrt_id = visit["mdtrt_id"]
    out = settling.settle_online(call, person, lines, med_type, use_account=use_account, commit=commit,
                                 mdtrt_id=mdtrt_id)
    if commit:
        call.db.execute("UPDATE fees SET state = 'settled' WHERE mdtrt_id = ? AND state = 'active'", (mdtrt_id,))
        call.db.execute("UPDATE visits SET state = 'settled' WHERE mdtrt_id = ?", (mdtrt_id,))
    return out


def pre_settle(call: Any) -> dict[str, Any]:
    return _settle(call, commit=False)


def settle(call: Any) -> dict[str, Any]:
    return _settle(call, commit=True)


def revoke(call: Any) -> dict[str, Any]:
    _clinic(call)
    f = call.input.obj("data")
    mdtrt_id = f.text("mdtrt_id", max_len=40)
    out = revoke_settlement(call, f, ("2207",))
    if out["setlinfo"]["mdtrt_id"] != mdtrt_id:
        raise Refused(f"{f.path('mdtrt_id')} {mdtrt_id} is not the visit of settlement {f.text('setl_id')}")
    if out["ykt"]["fully_revoked"]:  # the visit's fee details can be settled again (or revoked with 2205)
        call.db.execute("UPDATE visits SET state = 'open' WHERE mdtrt_id = ?", (mdtrt_id,))
        call.db.execute("UPDATE fees SET state = 'active' WHERE mdtrt_id = ? AND state = 'settled'", (mdtrt_id,))
    return out
