"""yikatong's extensions for the offline mode (docs/centre.md "Offline mode and upload"):

- **Y201** upload of a sale settled offline by the counter's engine from the card's counters and ED. The
  centre recomputes the split with the same engine from the counters and ED the card held (`ykt.ytd_before`,
  `ykt.ed_before`) and refuses an upload that does not match it line by line. Then the settlement is recorded
  (mode offline), the personal-account part comes off the offline allowance (it was paid from the card's ED)
  and the counters move by the sale's deltas. `data.ykt_offline_ref` (the receipt number) is the natural key:
  the same sale uploaded again under another msgid answers with the first settlement (`ykt.duplicate`).
  When the centre's counters differed from the card's before the sale (the card was behind or ahead),
  `ykt.divergence` says so; the sale stands as settled offline.
- **Y202** upload of an offline refund (the account part went back onto the card's ED): revokes lines of an
  uploaded offline settlement; the account part goes back to the allowance.
- **Y301** allowance load (圈存): moves `amt` from the personal account held at the centre to the card's
  offline allowance; the counter then loads the card's ED (a 2601 of the Y301 undoes it when the card load
  did not happen).
"""

from __future__ import annotations

from typing import Any

from terminal.medical import YearToDate

from .. import persons, settling, store
from ..errors import Refused
from ..validation import Fields
from ..wire import yuan_of
from .revoke import revoke

_YTD = ("deductible_used", "pooled_paid", "inpatient_pooled_paid")


def _ytd(f: Fields, name: str) -> YearToDate:
    block = f.obj(name)
    return YearToDate(*(block.money(k) for k in _YTD))


def _duplicate(call: Any, offline_ref: str) -> dict[str, Any] | None:
    row = call.db.one("SELECT setl_id, msgid, kind FROM settlements WHERE fixmedins_code = ? AND offline_ref = ?",
                      (call.institution.fixmedins_code, offline_ref))
    if row is None:
        return None
    return {"setlinfo": {"setl_id": row[0]}, "ykt": {"duplicate": True, "msgid": row[1], "kind": row[2]}}


def upload_sale(call: Any) -> dict[str, Any]:
    d = call.input.obj("data")
    offline_ref = d.text("ykt_offline_ref", max_len=40)
    person = persons.by_credential(call, d)
    if d.has("psn_no") and d.text("psn_no", max_len=30) != person.psn_no:
        raise Refused(f"{d.path('psn_no')} is not the person of the card {d.text('mdtrt_cert_no')}")
    if call.insuplc_admdvs != person.insuplc_admdvs:
        raise Refused(f"insuplc_admdvs {call.insuplc_admdvs!r} is not the insured region {person.insuplc_admdvs} "
                      f"of psn_no {person.psn_no}")
    med_type = settling.med_type_of(call, d, ("41", "11", "14", "21"))
    when = d.time("setl_time")
    use_account = d.flag("acct_used_flag") == "1"
    lines = settling.read_lines(call, call.input.items("drugdetail"))
    settling.check_total(d, lines)
    ykt = call.input.obj("ykt")
    ytd_before, ytd_after = _ytd(ykt, "ytd_before"), _ytd(ykt, "ytd_after")
    ed_before, ed_after = ykt.money("ed_before"), ykt.money("ed_after")
    on = when.date()
    s = settling.compute(call, person, lines, med_type, ytd=ytd_before, balance_fen=ed_before,
                         use_account=use_account, on=on)
    _check_split(call, s, lines, ytd_after, ed_after)
    duplicate = _duplicate(call, offline_ref)
    if duplicate is not None:
        return duplicate
    acct = store.account(call.db, person.psn_no, for_update=True)
    centre_before = acct.ytd(on.year)
    divergence = []
    if centre_before != ytd_before and on.year >= acct.ytd_year:
        divergence.append(f"the centre's counters {_show(centre_before)} differed from the card's "
                          f"{_show(ytd_before)} before this sale")
    take = min(s.account_fen, acct.allowance_fen)
    if take < s.account_fen:
        divergence.append(f"the card paid {yuan_of(s.account_fen)} from its ED but its allowance was "
                          f"{yuan_of(acct.allowance_fen)}")
    counters = (ytd_after.deductible_used_fen - ytd_before.deductible_used_fen,
                ytd_after.pooled_paid_fen - ytd_before.pooled_paid_fen,
                ytd_after.inpatient_pooled_paid_fen - ytd_before.inpatient_pooled_paid_fen)
    after = store.apply(call.db, call.msgid, acct, "offline_settle", year=on.year, at=call.time_text, balc=0,
                        allowance=-take, counters=counters)
    setl_id = call.new_id("S")
    setl_time = when.strftime("%Y-%m-%d %H:%M:%S")
    settling.record(call, setl_id=setl_id, kind="settle", person=person, mdtrt_id=None, med_type=med_type,
                    setl_time=setl_time, mode="offline", money=settling.setlinfo_fen(s.to_setlinfo()),
                    acct_source="card", detail=settling.detail_json(s, lines, person), offline_ref=offline_ref)
    out = settling.output(call, person, s, lines, med_type, setl_id=setl_id, mdtrt_id="",
                          balc_after_fen=after.balc_fen, allowance_fen=after.allowance_fen,
                          ytd_after=after.ytd(on.year), setl_time=setl_time)
    out["setlinfo"]["balc"] = yuan_of(s.account_balance_after_fen)  # the card's ED after the sale
    out["ykt"].update(duplicate=False, divergence=divergence, balc_centre=yuan_of(after.balc_fen))
    return out


def _show(y: YearToDate) -> str:
    return f"({yuan_of(y.deductible_used_fen)}, {yuan_of(y.pooled_paid_fen)}, {yuan_of(y.inpatient_pooled_paid_fen)})"


def _check_split(call: Any, s: Any, lines: list[settling.Line], ytd_after: YearToDate, ed_after: int) -> None:
    """The uploaded result must be the engine's, in total and line by line."""
    uploaded = call.input.obj("setlinfo")
    mine = settling.setlinfo_fen(s.to_setlinfo())
    for name, value in mine.items():
        theirs = uploaded.money(name)
        if theirs != value:
            raise Refused(f"{uploaded.path(name)} {yuan_of(theirs)} is not what the policy engine gives for this "
                          f"sale from the card's counters: {yuan_of(value)}")
    cuts = call.input.items("detlcutinfo", min_items=len(lines), max_items=len(lines))
    for cut, line, parts in zip(cuts, lines, s.lines):
        if cut.text("feedetl_sn", max_len=30) != line.sn:
            raise Refused(f"{cut.path('feedetl_sn')} must follow drugdetail: {line.sn}")
        for wire, name in settling.LINE_WIRE.items():
            if cut.money(wire) != getattr(parts, name):
                raise Refused(f"{cut.path(wire)} {yuan_of(cut.money(wire))} is not the engine's "
                              f"{yuan_of(getattr(parts, name))}")
    if ytd_after != s.ytd_after:
        raise Refused(f"input.ykt.ytd_after {_show(ytd_after)} is not the engine's {_show(s.ytd_after)}")
    if ed_after != s.account_balance_after_fen:
        raise Refused(f"input.ykt.ed_after {yuan_of(ed_after)} is not ed_before − acct_pay = "
                      f"{yuan_of(s.account_balance_after_fen)}")


def upload_refund(call: Any) -> dict[str, Any]:
    d = call.input.obj("data")
    offline_ref = d.text("ykt_offline_ref", max_len=40)
    when = d.time("setl_time")
    ykt = call.input.obj("ykt")
    ytd_before = _ytd(ykt, "ytd_before")
    duplicate = _duplicate(call, offline_ref)
    if duplicate is not None:
        d.text("setl_id", max_len=40)
        return duplicate
    return revoke(call, d, ("Y201",), to_allowance=True, year=when.year, ytd=ytd_before, offline_ref=offline_ref,
                  setl_time=when.strftime("%Y-%m-%d %H:%M:%S"))


def load_allowance(call: Any) -> dict[str, Any]:
    d = call.input.obj("data")
    person = persons.for_settlement(call, d, insutype=False)
    amount = d.money("amt")
    if amount <= 0:
        raise Refused(f"{d.path('amt')} must be more than 0.00")
    policy = settling.policy_of(call, person)
    if not policy.account_available:
        raise Refused(f"psn_no {person.psn_no}: the scheme {policy.name} has no personal account to load from")
    acct = store.account(call.db, person.psn_no, for_update=True)
    ed_before = d.money("ykt_ed_before")
    if amount > acct.balc_fen:
        raise Refused(f"{d.path('amt')} {yuan_of(amount)} is more than the personal account holds at the centre "
                      f"({yuan_of(acct.balc_fen)})")
    after = store.apply(call.db, call.msgid, acct, "allowance_load", year=acct.ytd_year, at=call.time_text,
                        balc=-amount, allowance=amount, counters=(0, 0, 0))
    notes = [] if ed_before == acct.allowance_fen else [
        f"the card's ED {yuan_of(ed_before)} differs from the allowance {yuan_of(acct.allowance_fen)}: "
        "offline sales not uploaded yet"]
    return {"ykt": {"amt": yuan_of(amount), "balc": yuan_of(after.balc_fen), "allowance": yuan_of(after.allowance_fen),
                    "divergence": notes}}
