"""2101 / 2102 / 2103: the pharmacy purchase (med_type 41). Input `druginfo` (psn_no, credential, med_type,
medfee_sumamt, insutype, acct_used_flag) and `drugdetail[]` (feedetl_sn, med_list_codg, cnt, pric,
det_item_fee_sumamt); output setlinfo / setldetail / detlcutinfo / ykt. 2101 writes nothing; 2102 debits the
personal account held at the centre and moves the year-to-date counters; 2103 revokes (`data`: setl_id,
psn_no, optional ykt_lines)."""

from __future__ import annotations

from typing import Any

from .. import persons, settling, store
from .revoke import revoke as revoke_settlement


def _settle(call: Any, *, commit: bool) -> dict[str, Any]:
    d = call.input.obj("druginfo")
    items = call.input.items("drugdetail")
    person = persons.for_settlement(call, d)
    med_type = settling.med_type_of(call, d, ("41",))
    use_account = d.flag("acct_used_flag") == "1"
    lines = settling.read_lines(call, items)
    settling.check_total(d, lines)
    acct = store.account(call.db, person.psn_no, for_update=commit)
    on = call.now.date()
    s = settling.compute(call, person, lines, med_type, ytd=acct.ytd(on.year), balance_fen=acct.balc_fen,
                         use_account=use_account, on=on)
    if not commit:
        return settling.output(call, person, s, lines, med_type, setl_id="", mdtrt_id="",
                               balc_after_fen=s.account_balance_after_fen, allowance_fen=acct.allowance_fen,
                               ytd_after=s.ytd_after, setl_time=call.time_text)
    setl_id, mdtrt_id = call.new_id("S"), call.new_id("M")
    after = store.move(call.db, call.msgid, acct, "settle", year=on.year, at=call.time_text, balc=-s.account_fen,
                       ytd_before=s.ytd_before, ytd_after=s.ytd_after)
    settling.record(call, setl_id=setl_id, kind="settle", person=person, mdtrt_id=mdtrt_id, med_type=med_type,
                    setl_time=call.time_text, mode="online", money=settling.setlinfo_fen(s.to_setlinfo()),
                    acct_source="centre", detail=settling.detail_json(s, lines, person))
    return settling.output(call, person, s, lines, med_type, setl_id=setl_id, mdtrt_id=mdtrt_id,
                           balc_after_fen=after.balc_fen, allowance_fen=after.allowance_fen,
                           ytd_after=after.ytd(on.year), setl_time=call.time_text)


def pre_settle(call: Any) -> dict[str, Any]:
    return _settle(call, commit=False)


def settle(call: Any) -> dict[str, Any]:
    return _settle(call, commit=True)


def revoke(call: Any) -> dict[str, Any]:
    return revoke_settlement(call, call.input.obj("data"), ("2102", "Y201"))
