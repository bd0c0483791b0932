"""The bridge between the wire and the one policy engine (terminal.medical): fee lines read from the request
and priced from the centre's catalog, the settlement computed with the person's home policy and the centre's
counters, and the answer written with the platform's names (setlinfo, setldetail, detlcutinfo) in yuan.

The same engine, the same policy files and the same catalog as the counter's offline settlement: a sale
settled online and one settled offline from the same counters split the same way (the upload of an offline
sale is checked against this engine, line by line).
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from terminal.medical import (
    CartLine,
    CatalogItem,
    ItemClass,
    LineParts,
    PolicyNotFound,
    Settlement,
    SettlementRefused,
    Visit,
    VisitType,
    YearToDate,
    settle,
)
from terminal.medical.policy import Policy, category_for

from . import store
from .errors import Refused
from .validation import Fields
from .wire import json_text, yuan_of

MED_TYPES = {"41": VisitType.PHARMACY, "11": VisitType.OUTPATIENT, "14": VisitType.OUTPATIENT,
             "21": VisitType.INPATIENT}
MED_TYPE_NAMES = {"41": "pharmacy purchase (定点药店购药)", "11": "ordinary outpatient (普通门诊)",
                  "14": "chronic/special outpatient (门诊慢特病)", "21": "inpatient (住院)"}
CLR_TYPES = {"41": "41", "11": "11", "14": "11", "21": "21"}  # clearing type: pharmacy, outpatient, inpatient
INSUTYPES = {"employee": "310", "resident": "390"}  # 职工基本医疗保险, 城乡居民基本医疗保险
FUND_NAMES = {"310": ("310100", "职工基本医疗保险统筹基金"), "390": ("390100", "城乡居民基本医疗保险基金")}
PSN_TYPES = {"active": "11", "retired": "21", "adult": "31", "elderly": "32", "student": "33", "child": "34"}
LINE_PARTS = ("amount_fen", "selfpay_fen", "preselfpay_fen", "eligible_fen", "deductible_part_fen",
              "coinsurance_fen", "over_cap_fen", "pooled_fen", "account_fen", "cash_fen")
# the per-line parts under their wire names (detlcutinfo); ykt_ names are yikatong's extensions
LINE_WIRE = {"det_item_fee_sumamt": "amount_fen", "fulamt_ownpay_amt": "selfpay_fen",
             "preselfpay_amt": "preselfpay_fen", "inscp_scp_amt": "eligible_fen", "act_pay_dedc": "deductible_part_fen",
             "hifp_pay": "pooled_fen", "acct_pay": "account_fen", "psn_cash_pay": "cash_fen",
             "ykt_over_cap_amt": "over_cap_fen"}
SETLINFO_MONEY = ("medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt",
                  "act_pay_dedc", "hifp_pay", "cvlserv_pay", "hifmi_pay", "maf_pay", "fund_pay_sumamt", "psn_part_amt",
                  "acct_pay", "acct_mulaid_pay", "psn_cash_pay")


@dataclass(frozen=True)
class Line:
    """One fee line of a request, priced from the catalog."""

    sn: str  # feedetl_sn
    item: CatalogItem
    cnt: int
    pric_fen: int
    amount_fen: int

    def cart_line(self) -> CartLine:
        return CartLine(self.item.code, self.cnt, self.pric_fen, self.item.item_class, self.item.name)


def read_lines(call: Any, items: list[Fields]) -> list[Line]:
    """Fee lines (drugdetail / feedetail): known catalog codes, catalog prices, cnt × pric = amount."""
    catalog = call.centre.catalog
    lines: list[Line] = []
    seen: set[str] = set()
    for f in items:
        sn = f.text("feedetl_sn", max_len=30)
        if sn in seen:
            raise Refused(f"{f.path('feedetl_sn')} {sn} appears twice in the request")
        seen.add(sn)
        code = f.text("med_list_codg", max_len=50)
        if code not in catalog:
            raise Refused(f"{f.path('med_list_codg')} {code} is not in the centre's catalog (就医地目录)")
        item = catalog[code]
        cnt = f.count("cnt")
        pric = f.money("pric")
        if pric != item.unit_price_fen:
            raise Refused(f"{f.path('pric')} {yuan_of(pric)} is not the catalog price {yuan_of(item.unit_price_fen)} "
                          f"of {code}")
        amount = f.money("det_item_fee_sumamt")
        if amount != cnt * pric:
            raise Refused(f"{f.path('det_item_fee_sumamt')} {yuan_of(amount)} is not cnt × pric = "
                          f"{yuan_of(cnt * pric)}")
        lines.append(Line(sn, item, cnt, pric, amount))
    return lines


def check_total(f: Fields, lines: list[Line]) -> int:
    total = f.money("medfee_sumamt")
    computed = sum(line.amount_fen for line in lines)
    if total != computed:
        raise Refused(f"{f.path('medfee_sumamt')} {yuan_of(total)} does not add up: the fee lines sum to "
                      f"{yuan_of(computed)}")
    return total


def med_type_of(call: Any, f: Fields, allowed: tuple[str, ...]) -> str:
    med_type = f.text("med_type", max_len=6, pattern=None, choices=None)
    if med_type not in allowed:
        names = ", ".join(f"{m} {MED_TYPE_NAMES[m]}" for m in allowed)
        raise Refused(f"{f.path('med_type')} must be {names} here, got {json_text(med_type)}")
    kind = call.institution.kind
    if MED_TYPES[med_type] is VisitType.PHARMACY and kind != "pharmacy":
        raise Refused(f"med_type {med_type} is a pharmacy purchase, but {call.institution.fixmedins_code} is a {kind}")
    if MED_TYPES[med_type] is not VisitType.PHARMACY and kind != "clinic":
        raise Refused(f"med_type {med_type} needs a clinic or hospital, but {call.institution.fixmedins_code} is a "
                      f"{kind}")
    return med_type


def policy_of(call: Any, person: store.Person) -> Policy:
    try:
        return call.centre.policies.for_card(person.insuplc_admdvs, person.scheme, retired=person.retired,
                                             category=person.category)
    except PolicyNotFound as exc:
        raise Refused(f"no policy of the insured region for psn_no {person.psn_no}: {exc}") from None


def visit_of(call: Any, med_type: str, on: _dt.date) -> Visit:
    visit_type = MED_TYPES[med_type]
    level = None if visit_type is VisitType.PHARMACY else (call.institution.hospital_level or 1)
    return Visit(visit_type, call.institution.admvs, on, level)


def compute(call: Any, person: store.Person, lines: list[Line], med_type: str, *, ytd: YearToDate,
            balance_fen: int, use_account: bool, on: _dt.date) -> Settlement:
    """The engine's split for these lines with the given counters and account balance."""
    policy = policy_of(call, person)
    visit = visit_of(call, med_type, on)
    filing = store.filing(call.db, person, policy.region, visit.treatment_region, on)
    try:
        return settle([line.cart_line() for line in lines], policy, ytd, balance_fen, visit=visit,
                      retired=person.retired and "retired" in policy.categories, filing=filing,
                      use_account=use_account)
    except SettlementRefused as exc:
        raise Refused(str(exc)) from None


def yuan_dict(fen: dict[str, int]) -> dict[str, Decimal]:
    return {k: yuan_of(v) for k, v in fen.items()}


def ytd_wire(y: YearToDate) -> dict[str, Decimal]:
    return yuan_dict({"deductible_used": y.deductible_used_fen, "pooled_paid": y.pooled_paid_fen,
                      "inpatient_pooled_paid": y.inpatient_pooled_paid_fen})


def setlinfo_fen(parts: dict[str, int]) -> dict[str, int]:
    """A settlement's money fields under setlinfo names (fen), from the engine's to_setlinfo()."""
    return {name: parts.get(name, 0) for name in SETLINFO_MONEY}


def output(call: Any, person: store.Person, s: Settlement, lines: list[Line], med_type: str, *, setl_id: str,
           mdtrt_id: str, balc_after_fen: int, allowance_fen: int, ytd_after: YearToDate,
           setl_time: str) -> dict[str, Any]:
    """setlinfo / setldetail / detlcutinfo / ykt of a (pre-)settlement, amounts in yuan."""
    money = setlinfo_fen(s.to_setlinfo())
    setlinfo: dict[str, Any] = {
        "setl_id": setl_id, "mdtrt_id": mdtrt_id, "psn_no": person.psn_no, "psn_name": person.psn_name,
        "psn_cert_type": "01", "certno": person.masked_certno, "gend": person.gend, "naty": person.naty,
        "brdy": person.brdy, "age": person.age(s.visit.on), "insutype": person.insutype,
        "psn_type": person.psn_type, "cvlserv_flag": person.cvlserv_flag, "setl_time": setl_time,
        "med_type": med_type, "clr_type": CLR_TYPES[med_type], "clr_optins": person.insuplc_admdvs,
        **yuan_dict(money), "balc": yuan_of(balc_after_fen),
    }
    fund_type, fund_name = FUND_NAMES[person.insutype]
    totals = s.totals
    setldetail = [{"fund_pay_type": fund_type, "fund_pay_type_name": fund_name,
                   "inscp_scp_amt": yuan_of(totals.eligible_fen), "fund_payamt": yuan_of(totals.pooled_fen),
                   "crt_payb_lmt_amt": yuan_of(max(0, s.policy.cap_fen(s.visit.visit_type)
                                                    - (ytd_after.inpatient_pooled_paid_fen
                                                       if s.visit.visit_type is VisitType.INPATIENT
                                                       else ytd_after.pooled_paid_fen))),
                   "setl_proc_info": "; ".join(s.notes)}]
    detlcutinfo = []
    for line, parts in zip(lines, s.lines):
        entry: dict[str, Any] = {"feedetl_sn": line.sn, "med_list_codg": line.item.code,
                                 "chrgitm_lv": parts.item_class.chrgitm_lv, "cnt": line.cnt,
                                 "pric": yuan_of(line.pric_fen), "pric_uplmt_amt": yuan_of(line.item.unit_price_fen),
                                 "selfpay_prop": _selfpay_prop(parts.item_class, s.policy.preselfpay_percent),
                                 "overlmt_amt": yuan_of(0)}
        entry.update({wire: yuan_of(getattr(parts, name)) for wire, name in LINE_WIRE.items()})
        detlcutinfo.append(entry)
    ykt = {"year": s.visit.on.year, "hospital_level": s.visit.hospital_level, "ratio_percent": s.ratio_percent, "deductible_amt": yuan_of(s.deductible_fen),
           "cross_province": s.cross_province, "filed": s.filed, "retired": s.retired,
           "policy": {"region": s.policy.region, "scheme": s.policy.scheme.value,
                      "category": category_for(s.policy.scheme, s.retired, person.category)},
           "ytd_before": ytd_wire(s.ytd_before), "ytd_after": ytd_wire(ytd_after),
           "balc_before": yuan_of(s.account_balance_before_fen), "allowance": yuan_of(allowance_fen),
           "notes": list(s.notes)}
    return {"setlinfo": setlinfo, "setldetail": setldetail, "detlcutinfo": detlcutinfo, "ykt": ykt}


def settle_online(call: Any, person: store.Person, lines: list[Line], med_type: str, *, use_account: bool,
                  commit: bool, mdtrt_id: str | None = None) -> dict[str, Any]:
    """A (pre-)settlement against the personal account held at the centre: 2101 / 2206 write nothing; 2102 /
    2207 debit the account, move the year-to-date counters and record the settlement. `mdtrt_id` is the
    visit's (clinic), or None for a new one at commit (pharmacy; none in a preview)."""
    acct = store.account(call.db, person.psn_no, for_update=commit)
    on = call.now.date()
    s = compute(call, person, lines, med_type, ytd=acct.ytd(on.year), balance_fen=acct.balc_fen,
                use_account=use_account, on=on)
    if not commit:
        return output(call, person, s, lines, med_type, setl_id="", mdtrt_id=mdtrt_id or "",
                      balc_after_fen=s.account_balance_after_fen, allowance_fen=acct.allowance_fen,
                      ytd_after=s.ytd_after, setl_time=call.time_text)
    setl_id = call.new_id("S")
    if mdtrt_id is None:
        mdtrt_id = call.new_id("M")
    after = store.move(call.db, call.msgid, acct, "settle", year=on.year, at=call.time_text, balc=-s.account_fen,
                       ytd_before=s.ytd_before, ytd_after=s.ytd_after)
    record(call, setl_id=setl_id, kind="settle", person=person, mdtrt_id=mdtrt_id, med_type=med_type,
           setl_time=call.time_text, mode="online", money=setlinfo_fen(s.to_setlinfo()), acct_source="centre",
           detail=detail_json(s, lines, person))
    return output(call, person, s, lines, med_type, setl_id=setl_id, mdtrt_id=mdtrt_id,
                  balc_after_fen=after.balc_fen, allowance_fen=after.allowance_fen, ytd_after=after.ytd(on.year),
                  setl_time=call.time_text)


def _selfpay_prop(item_class: ItemClass, preselfpay_percent: int) -> Decimal:
    if item_class is ItemClass.C:
        return Decimal("1.00")
    if item_class is ItemClass.B:
        return Decimal(preselfpay_percent).scaleb(-2).quantize(Decimal("0.01"))
    return Decimal("0.00")


# ---------------------------------------------------------------- stored settlements (for revocations)
def detail_json(s: Settlement, lines: list[Line], person: store.Person) -> str:
    return json.dumps({
        "policy": {"region": s.policy.region, "scheme": s.policy.scheme.value,
                   "category": category_for(s.policy.scheme, s.retired, person.category)},
        "visit": {"type": s.visit.visit_type.value, "region": s.visit.treatment_region, "on": s.visit.on.isoformat(),
                  "level": s.visit.hospital_level},
        "ratio_percent": s.ratio_percent, "deductible_fen": s.deductible_fen, "cross_province": s.cross_province,
        "filed": s.filed, "retired": s.retired,
        "ytd_before": _ytd(s.ytd_before), "ytd_after": _ytd(s.ytd_after),
        "balance_before_fen": s.account_balance_before_fen, "balance_after_fen": s.account_balance_after_fen,
        "lines": [{"sn": line.sn, "code": p.code, "class": p.item_class.value, "cnt": line.cnt,
                   "pric_fen": line.pric_fen, **{n: getattr(p, n) for n in LINE_PARTS}}
                  for line, p in zip(lines, s.lines)],
    }, ensure_ascii=False, sort_keys=True)


def _ytd(y: YearToDate) -> list[int]:
    return [y.deductible_used_fen, y.pooled_paid_fen, y.inpatient_pooled_paid_fen]


def settlement_of(detail: dict[str, Any], call: Any) -> Settlement:
    """The stored settlement back as the engine's Settlement (for `terminal.medical.refund`)."""
    p = detail["policy"]
    try:
        policy = call.centre.policies.find(p["region"], p["scheme"], p["category"])
    except PolicyNotFound:
        policy = next(iter(call.centre.policies))
    v = detail["visit"]
    lines = tuple(LineParts(index=i, code=e["code"], item_class=ItemClass(e["class"]),
                            **{n: e[n] for n in LINE_PARTS}) for i, e in enumerate(detail["lines"]))
    return Settlement(
        policy=policy, visit=Visit(VisitType(v["type"]), v["region"], _dt.date.fromisoformat(v["on"]), v["level"]),
        lines=lines, ratio_percent=detail["ratio_percent"], deductible_fen=detail["deductible_fen"],
        cross_province=detail["cross_province"], filed=detail["filed"], retired=detail["retired"],
        ytd_before=YearToDate(*detail["ytd_before"]), ytd_after=YearToDate(*detail["ytd_after"]),
        account_balance_before_fen=detail["balance_before_fen"],
        account_balance_after_fen=detail["balance_after_fen"])


def record(call: Any, *, setl_id: str, kind: str, person: store.Person, mdtrt_id: str | None, med_type: str,
           setl_time: str, mode: str, money: dict[str, int], acct_source: str, detail: str,
           orig_setl_id: str | None = None, offline_ref: str | None = None) -> None:
    """Insert a settlement (kind settle) or revocation (kind revoke) row."""
    call.db.execute(
        "INSERT INTO settlements (setl_id, msgid, infno, kind, orig_setl_id, fixmedins_code, psn_no, mdtrt_id,"
        " med_type, insutype, clr_type, setl_time, setl_day, mode, offline_ref, medfee_fen, fund_fen, acct_fen,"
        " cash_fen, acct_source, state, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
        " 'settled', ?)",
        (setl_id, call.msgid, call.infno, kind, orig_setl_id, call.institution.fixmedins_code, person.psn_no, mdtrt_id,
         med_type, person.insutype, CLR_TYPES[med_type], setl_time, setl_time[:10], mode, offline_ref,
         money["medfee_sumamt"], money["fund_pay_sumamt"], money["acct_pay"], money["psn_cash_pay"], acct_source,
         detail))
