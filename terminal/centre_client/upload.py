"""Upload after reconnect and the day's reconciliation (docs/centre.md "Upload" and "Day close").

`upload` sends, in order: every owed 2601 reversal; every offline sale whose ledger intent is committed
(Y201; a sale whose intent failed or never began is void and never sent; one still pending at the card
waits); every offline refund of an uploaded sale (Y202). A lost answer is resent with the same msgid next
time (the centre answers it once; the receipt number is also the upload's natural key), so each sale is
settled at the centre exactly once however often the upload is cut.

`reconcile_day` uploads, then sends 3201 for each insurance type and clearing type of the day's records the
centre holds (its settlement and revocation ids), and, when one does not balance, 3202 with the list.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from terminal.centre.wire import yuan_of

from .convert import offline_upload, ytd_wire
from .errors import CentreClientError, CentreRefused, CentreUnreachable
from .journal import loads

if TYPE_CHECKING:
    from terminal.counter.counter import Counter

    from .link import CentreLink

log = logging.getLogger(__name__)


@dataclass
class UploadReport:
    reversed: int = 0  # owed 2601 delivered
    uploaded: int = 0  # offline sales settled at the centre now
    refunds: int = 0  # offline refunds revoked at the centre now
    refused: list[str] = field(default_factory=list)  # "receipt: err_msg" — for an operator
    waiting: int = 0  # pending at the card, or lost answers to resend
    divergence: list[str] = field(default_factory=list)  # what the centre reported about card vs centre
    error: str | None = None  # the centre became unreachable

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def upload(link: CentreLink, ctx: Counter) -> UploadReport:
    from terminal.counter.history import SALE_KIND
    from .flows import recover

    journal = link._journal()
    report = UploadReport()
    try:
        recover(link, ctx)
        for row in journal.calls("reverse_owed") + journal.calls("lost"):
            if row["infno"] in ("Y201", "Y202"):
                continue  # resent below with the same msgid
            if link.reverse(row["msgid"], row["infno"]):
                journal.mark_reversed(row["msgid"])
                report.reversed += 1
        for sale in journal.sales("upload_state = 'queued'"):
            state, *_ = ctx.store.intent_state(SALE_KIND, "receipt", sale["receipt_no"])
            if state in ("failed", "void", "cancelled"):
                journal.update("centre_sales", "receipt_no", sale["receipt_no"], upload_state="void")
                continue
            if state != "committed":
                report.waiting += 1
                continue
            _upload_sale(link, ctx, sale, report)
        for refund in journal.refunds("upload_state = 'queued'"):
            _upload_refund(link, ctx, refund, report)
    except CentreUnreachable as exc:
        report.error = str(exc)
    return report


def _upload_sale(link: CentreLink, ctx: Counter, sale: dict[str, Any], report: UploadReport) -> None:
    journal = link._journal()
    row = ctx.store.one("SELECT settlement FROM counter_sales WHERE receipt_no = ?", (sale["receipt_no"],))
    saved = json.loads(row["settlement"])
    request = offline_upload(saved, sale)
    try:
        reply = link.stateful("Y201", request, insuplc_admdvs=sale["insuplc"], ref=sale["receipt_no"],
                              msgid=sale["upload_msgid"], reverse_if_lost=False) if sale["upload_msgid"] else None
        if reply is None:
            msgid = link.client.msgids.next()
            journal.begin_call(msgid, "Y201", sale["receipt_no"], request, sale["insuplc"], link._now())
            journal.update("centre_sales", "receipt_no", sale["receipt_no"], upload_msgid=msgid)
            reply = link.stateful("Y201", request, insuplc_admdvs=sale["insuplc"], ref=sale["receipt_no"],
                                  msgid=msgid, reverse_if_lost=False)
    except CentreRefused as exc:
        journal.update("centre_sales", "receipt_no", sale["receipt_no"], upload_state="refused",
                       upload_note=exc.err_msg[:500])
        report.refused.append(f"{sale['receipt_no']}: {exc.err_msg}")
        return
    out = reply.output
    ykt = out.get("ykt", {})
    journal.update("centre_sales", "receipt_no", sale["receipt_no"], upload_state="uploaded",
                   setl_id=str(out["setlinfo"]["setl_id"]), psn_no=out["setlinfo"].get("psn_no") or sale["psn_no"],
                   upload_note="; ".join(ykt.get("divergence", [])) or ("duplicate" if ykt.get("duplicate") else None))
    report.uploaded += 1
    report.divergence += [f"{sale['receipt_no']}: {d}" for d in ykt.get("divergence", [])]


def _upload_refund(link: CentreLink, ctx: Counter, refund: dict[str, Any], report: UploadReport) -> None:
    journal = link._journal()
    sale = journal.sale(refund["receipt_no"])
    if sale is None or sale["upload_state"] in ("refused", "void"):
        journal.update("centre_refunds", "refund_no", refund["refund_no"], upload_state="void")
        return
    if sale["upload_state"] != "uploaded":
        report.waiting += 1
        return
    from terminal.counter.history import REFUND_KIND

    state, *_ = ctx.store.intent_state(REFUND_KIND, "refund", refund["refund_no"])
    if state in ("failed", "void", "cancelled"):
        journal.update("centre_refunds", "refund_no", refund["refund_no"], upload_state="void")
        return
    if state != "committed":
        report.waiting += 1
        return
    from terminal.medical import YearToDate

    request = {"data": {"ykt_offline_ref": refund["refund_no"], "setl_id": sale["setl_id"], "psn_no": sale["psn_no"],
                        "ykt_lines": [str(i + 1) for i in json.loads(refund["lines"])],
                        "setl_time": refund["setl_time"]},
               "ykt": {"ytd_before": ytd_wire(YearToDate(*json.loads(refund["ytd_before"])))}}
    msgid = refund["upload_msgid"]
    try:
        if msgid is None:
            msgid = link.client.msgids.next()
            journal.begin_call(msgid, "Y202", refund["refund_no"], request, sale["insuplc"], link._now())
            journal.update("centre_refunds", "refund_no", refund["refund_no"], upload_msgid=msgid)
        reply = link.stateful("Y202", request, insuplc_admdvs=sale["insuplc"], ref=refund["refund_no"], msgid=msgid,
                              reverse_if_lost=False)
    except CentreRefused as exc:
        journal.update("centre_refunds", "refund_no", refund["refund_no"], upload_state="refused",
                       upload_note=exc.err_msg[:500])
        report.refused.append(f"{refund['refund_no']}: {exc.err_msg}")
        return
    journal.update("centre_refunds", "refund_no", refund["refund_no"], upload_state="uploaded",
                   setl_id=str(reply.output["setlinfo"]["setl_id"]))
    report.refunds += 1


def day_records(link: CentreLink, day: str) -> list[dict[str, Any]]:
    """The day's records the centre holds: settlements (+) and revocations (−), with their group."""
    journal = link._journal()
    out = []
    held = "setl_id IS NOT NULL AND upload_state IN ('settled', 'uploaded') AND setl_day = ?"
    for s in journal.sales(held, (day,)):
        out.append({**s, "refd_setl_flag": "0"})
    for r in journal.refunds(held, (day,)):
        sale = journal.sale(r["receipt_no"]) or {}
        out.append({**r, "insutype": sale.get("insutype"), "clr_type": sale.get("clr_type"), "refd_setl_flag": "1"})
    return out


def reconcile_day(link: CentreLink, ctx: Counter, day: str) -> dict[str, Any]:
    """Upload, then 3201 per (insutype, clr_type) and 3202 when not balanced: the day close's `centre` part."""
    report = upload(link, ctx)
    result: dict[str, Any] = {"day": day, "upload": report.to_json(), "groups": [], "balanced": None}
    if report.error:
        result["error"] = report.error
        return result
    records = day_records(link, day)
    groups: dict[tuple[str, str], dict[str, int]] = {}
    for rec in records:
        g = groups.setdefault((rec["insutype"], rec["clr_type"]), {"medfee": 0, "fund": 0, "acct": 0, "n": 0})
        sign = 1 if rec["refd_setl_flag"] == "0" else -1
        g["medfee"] += sign * rec["medfee_fen"]
        g["fund"] += sign * rec["fund_fen"]
        g["acct"] += sign * rec["acct_fen"]
        g["n"] += 1
    if not groups:
        groups[("310", "41")] = {"medfee": 0, "fund": 0, "acct": 0, "n": 0}
    balanced = True
    try:
        for (insutype, clr_type), g in sorted(groups.items()):
            reply = link.call("3201", {"data": {
                "insutype": insutype, "clr_type": clr_type, "setl_optins": link.client.institution.admvs,
                "stmt_begndate": day, "stmt_enddate": day, "medfee_sumamt": yuan_of(g["medfee"]),
                "fund_pay_sumamt": yuan_of(g["fund"]), "acct_pay": yuan_of(g["acct"]), "fixmedins_setl_cnt": g["n"]}})
            info = reply.output["stmtinfo"]
            ok = info["stmt_rslt"] == "0"
            balanced &= ok
            result["groups"].append({"insutype": insutype, "clr_type": clr_type, "stmt_rslt": info["stmt_rslt"],
                                     "stmt_rslt_dscr": info["stmt_rslt_dscr"], "fixmedins_setl_cnt": g["n"],
                                     "medfee_sumamt": g["medfee"], "fund_pay_sumamt": g["fund"],
                                     "acct_pay": g["acct"]})  # fen, under the platform's names
        if not balanced:
            detail = [{"setl_id": rec["setl_id"], "medfee_sumamt": yuan_of(rec["medfee_fen"]),
                       "fund_pay_sumamt": yuan_of(rec["fund_fen"]), "acct_pay": yuan_of(rec["acct_fen"]),
                       "refd_setl_flag": rec["refd_setl_flag"]} for rec in records]
            reply = link.call("3202", {"data": {"setl_optins": link.client.institution.admvs, "stmt_begndate": day,
                                                "stmt_enddate": day, "detail": detail}})
            result["differences"] = [{"setl_id": d["setl_id"], "dscr": d["stmt_rslt_dscr"]}
                                     for d in reply.output.get("detail", [])]
    except CentreClientError as exc:
        result["error"] = str(exc)
        return result
    result["balanced"] = balanced
    return result


__all__ = ["UploadReport", "day_records", "loads", "reconcile_day", "upload"]
