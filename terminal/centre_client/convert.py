"""Between the counter's objects and the platform's wire names: cart lines → drugdetail / feedetail, the
centre's answer → the engine's `Settlement` (checked: the parts must add up to the answer's setlinfo), and a
sale settled offline → the Y201 upload."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from terminal.centre.seed import card_sn
from terminal.centre.settling import INSUTYPES, LINE_WIRE, SETLINFO_MONEY
from terminal.centre.wire import MoneyError, fen_of, yuan_of
from terminal.medical import CartLine, ItemClass, LineParts, Policy, Settlement, Visit, YearToDate

from .errors import CentreProtocolError

CLASS_OF_LV = {"01": ItemClass.A, "02": ItemClass.B, "03": ItemClass.C}
MED_TYPE = {"pharmacy": "41", "outpatient": "11", "inpatient": "21"}
CLR_TYPE = {"41": "41", "11": "11", "14": "11", "21": "21"}
_YTD = ("deductible_used", "pooled_paid", "inpatient_pooled_paid")


def fee_lines(cart: list[CartLine] | tuple[CartLine, ...]) -> list[dict[str, Any]]:
    """drugdetail / feedetail entries (feedetl_sn 1, 2, …): code, count, unit price, amount in yuan."""
    return [{"feedetl_sn": str(i + 1), "med_list_codg": line.code, "medins_list_codg": line.code,
             "medins_list_name": line.name, "cnt": line.quantity, "pric": yuan_of(line.unit_price_fen),
             "det_item_fee_sumamt": yuan_of(line.amount_fen)} for i, line in enumerate(cart)]


def card_cert(identity: Any) -> dict[str, str]:
    """The social security card as a credential (mdtrt_cert_type 03)."""
    return {"mdtrt_cert_type": "03", "mdtrt_cert_no": identity.card_number,
            "card_sn": card_sn(identity.home_region, identity.card_serial)}


def insutype_of(scheme: str) -> str:
    return INSUTYPES[scheme]


def _fen(block: dict[str, Any], name: str, where: str) -> int:
    try:
        return fen_of(block.get(name), f"{where}.{name}")
    except MoneyError as exc:
        raise CentreProtocolError(str(exc)) from None


def ytd_of(block: dict[str, Any], where: str) -> YearToDate:
    return YearToDate(*(_fen(block, k, where) for k in _YTD))


def ytd_wire(y: YearToDate) -> dict[str, Decimal]:
    return {"deductible_used": yuan_of(y.deductible_used_fen), "pooled_paid": yuan_of(y.pooled_paid_fen),
            "inpatient_pooled_paid": yuan_of(y.inpatient_pooled_paid_fen)}


def settlement_of(output: dict[str, Any], cart: tuple[CartLine, ...], policy: Policy, visit: Visit) -> Settlement:
    """The engine's Settlement as the centre computed it (2101/2102/2206/2207 output). The line parts come
    from detlcutinfo; the totals must equal setlinfo field by field (else CentreProtocolError)."""
    try:
        setlinfo, cuts, ykt = output["setlinfo"], output["detlcutinfo"], output["ykt"]
    except (KeyError, TypeError):
        raise CentreProtocolError("the settlement answer lacks setlinfo, detlcutinfo or ykt") from None
    if not isinstance(cuts, list) or len(cuts) != len(cart):
        raise CentreProtocolError(f"the centre answered {len(cuts) if isinstance(cuts, list) else '?'} fee lines "
                                  f"for a cart of {len(cart)}")
    lines = []
    for index, (cut, line) in enumerate(zip(cuts, cart)):
        where = f"detlcutinfo[{index}]"
        item_class = CLASS_OF_LV.get(str(cut.get("chrgitm_lv")))
        if cut.get("med_list_codg") != line.code or item_class is None:
            raise CentreProtocolError(f"{where} is not the cart's line {index + 1} ({line.code})")
        parts = {name: _fen(cut, wire, where) for wire, name in LINE_WIRE.items()}
        coinsurance = (parts["eligible_fen"] - parts["deductible_part_fen"] - parts["over_cap_fen"]
                       - parts["pooled_fen"])
        if coinsurance < 0 or parts["amount_fen"] != line.amount_fen:
            raise CentreProtocolError(f"{where}: the parts do not add up")
        lines.append(LineParts(index=index, code=line.code, item_class=item_class, coinsurance_fen=coinsurance,
                               **parts))
    try:
        s = Settlement(
            policy=policy, visit=visit, lines=tuple(lines), ratio_percent=int(ykt["ratio_percent"]),
            deductible_fen=_fen(ykt, "deductible_amt", "ykt"), cross_province=bool(ykt["cross_province"]),
            filed=bool(ykt["filed"]), retired=bool(ykt["retired"]),
            ytd_before=ytd_of(ykt["ytd_before"], "ykt.ytd_before"), ytd_after=ytd_of(ykt["ytd_after"], "ykt.ytd_after"),
            account_balance_before_fen=_fen(ykt, "balc_before", "ykt"),
            account_balance_after_fen=_fen(setlinfo, "balc", "setlinfo"))
    except (KeyError, TypeError, ValueError) as exc:
        raise CentreProtocolError(f"the settlement answer's ykt block is incomplete ({exc})") from None
    mine = s.totals.to_setlinfo()
    for name in SETLINFO_MONEY:
        if _fen(setlinfo, name, "setlinfo") != mine.get(name, 0):
            raise CentreProtocolError(f"setlinfo.{name} {setlinfo.get(name)} is not the sum of the fee lines "
                                      f"({yuan_of(mine.get(name, 0))})")
    return s


def setlinfo_fen(s: Settlement) -> dict[str, int]:
    """The settlement's setlinfo money fields (fen), plus balc."""
    return s.to_setlinfo()


def offline_upload(saved: dict[str, Any], sale: dict[str, Any]) -> dict[str, Any]:
    """The Y201 input of a sale the counter settled offline (`saved`: the counter's stored settlement;
    `sale`: the centre_sales row)."""
    lines = saved["lines"]
    drugdetail = [{"feedetl_sn": str(e["index"] + 1), "med_list_codg": e["code"], "medins_list_codg": e["code"],
                   "medins_list_name": e.get("name", ""), "cnt": e["quantity"], "pric": yuan_of(e["unit_price_fen"]),
                   "det_item_fee_sumamt": yuan_of(e["amount_fen"])} for e in lines]
    detlcutinfo = []
    for e in lines:
        cut: dict[str, Any] = {"feedetl_sn": str(e["index"] + 1)}
        cut.update({wire: yuan_of(e[name]) for wire, name in LINE_WIRE.items()})
        detlcutinfo.append(cut)
    setlinfo = {k: yuan_of(v) for k, v in saved["setlinfo"].items() if k in SETLINFO_MONEY}
    total = sum(e["amount_fen"] for e in lines)
    return {
        "data": {"ykt_offline_ref": sale["receipt_no"], "mdtrt_cert_type": "03", "mdtrt_cert_no": sale["card_no"],
                 "card_sn": sale["card_sn"], "med_type": sale["med_type"], "setl_time": sale["setl_time"],
                 "acct_used_flag": "1" if saved.get("use_account", True) else "0", "medfee_sumamt": yuan_of(total),
                 "insutype": sale["insutype"]},
        "drugdetail": drugdetail,
        "setlinfo": setlinfo,
        "detlcutinfo": detlcutinfo,
        "ykt": {"ytd_before": ytd_wire(YearToDate(*saved["ytd_before"])),
                "ytd_after": ytd_wire(YearToDate(*saved["ytd_after"])),
                "ed_before": yuan_of(saved["account_before_fen"]), "ed_after": yuan_of(saved["account_after_fen"])},
    }
