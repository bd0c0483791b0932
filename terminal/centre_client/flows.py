"""The counter flows when the insurance centre answers (docs/centre.md "Online and offline at the counter").

Online sale (`pay_online`): the counter_sales row and the centre row (state `settling`, the msgid) first,
then 2102 / 2207. Refused or lost (confirmed with the same msgid, else reversed by 2601 — owed when the
centre is gone): nothing is settled, the cashier settles again (offline if need be). Answered: the card's
medical record gets the new counters in a 0-amount ED purchase booked as the sale, with the centre's split
(pooled fund, personal account at the centre, cash) as its postings and the card's TAC as its proof. A card
that declines (or a ledger that refuses before the card is asked) has the centre's settlement reversed
(2601); a card whose answer is lost leaves the sale pending at the card like any sale — should the card later
say it did not happen, `recover` reverses the centre's settlement. So the centre and the ledger hold the
same sales.

Online refund: 2103 / 2208 (with yikatong's `ykt_lines` for a partial refund), the account part back to the
account at the centre, then the restored counters onto the card in a 0-amount ED purchase booked as the
refund; a card that declines has the revocation reversed.

The card's counters after an online settlement: the centre's, when the card's ED equals the allowance the
centre knows (every offline sale of the card is uploaded); otherwise the card's own counters moved by the
settlement's change (the card is ahead by offline sales not uploaded yet, and stays ahead by as much).
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from terminal.ledger import Posting, accounts
from terminal.medical import YearToDate

from .convert import CLR_TYPE, MED_TYPE, card_cert, insutype_of, settlement_of, ytd_of
from .errors import CentreClientError, CentreRefused

if TYPE_CHECKING:
    from terminal.counter.card import Customer
    from terminal.counter.counter import Counter
    from terminal.counter.sale import Draft, Sale

    from .link import CentreLink

log = logging.getLogger(__name__)

ALLOWANCE_KIND = "allowance_load"
TXN_ED_PURCHASE = 0x05
SETTLED = ("settled", "uploaded")  # the centre holds it


def _card_after(customer: Customer, centre_before: YearToDate, centre_after: YearToDate) -> YearToDate:
    """What the card's medical record holds after an online settlement (the module docstring)."""
    person = customer.centre
    if person is not None and person.allowance_fen == customer.account_balance_fen:
        return centre_after
    card = customer.ytd
    return YearToDate(
        max(0, card.deductible_used_fen + centre_after.deductible_used_fen - centre_before.deductible_used_fen),
        max(0, card.pooled_paid_fen + centre_after.pooled_paid_fen - centre_before.pooled_paid_fen),
        max(0, card.inpatient_pooled_paid_fen + centre_after.inpatient_pooled_paid_fen
            - centre_before.inpatient_pooled_paid_fen))


# ---------------------------------------------------------------- identify
def identified(link: CentreLink, ctx: Counter, customer: Customer, pin: str) -> Customer:
    """First what is owed to the centre (reversals, uploads), then 1101 for the card. Offline: the customer
    as read from the card."""
    from terminal.counter.errors import CardNotReady

    if link.online and link.journal is not None:
        try:
            recover(link, ctx)
            if link.journal.sales("upload_state = 'queued'") or link.journal.refunds("upload_state = 'queued'"):
                link.upload(ctx)
        except CentreClientError as exc:
            log.info("upload at identify: %s", exc)
    try:
        person = link.person(customer)
    except CentreRefused as exc:
        raise CardNotReady(f"the insurance centre refused card {customer.identity.card_number}: {exc.err_msg}") from None
    if person is None:
        return customer
    if person.psn_insu_stas != "1":
        raise CardNotReady(f"the insurance centre says the holder of card {customer.identity.card_number} is not "
                           f"insured now (psn_insu_stas {person.psn_insu_stas})")
    return replace(customer, centre=person)


# ---------------------------------------------------------------- sale
def pay_online(link: CentreLink, ctx: Counter, draft: Draft, pin: str) -> Sale:
    from terminal.counter.card import check_unchanged, updated_record
    from terminal.counter.sale import SALE_KIND, Sale, check_date, insert_sale, sale_details
    from terminal.counter.saved import policy_category, save_settlement
    from terminal.counter.store import dumps

    operator = ctx.require_operator("a sale")
    customer, s, online = draft.customer, draft.settlement, draft.online
    journal = link._journal()
    now = check_date(ctx, draft)
    record = check_unchanged(customer)
    category = policy_category(record.scheme, record.retired, record.category)
    saved = save_settlement(s, draft.cart, filing_id=None, category=category, mode="online",
                            use_account=draft.use_account)
    planned = updated_record(record, _card_after(customer, s.ytd_before, s.ytd_after), on=now,
                             terminal_id=customer.manager.terminal_id)
    receipt_no = insert_sale(ctx, customer, saved, planned.data.hex().upper(), now, operator.operator_id)
    msgid = link.client.msgids.next()
    journal.begin_call(msgid, online.infno, receipt_no, online.input, online.insuplc_admdvs, link._now())
    journal.add_sale(_sale_row(receipt_no, customer, online.med_type, s, link._now(), mode="online", msgid=msgid,
                               setl_id=None, psn_no=online.psn_no, state="settling",
                               created=now.isoformat(timespec="seconds")))
    try:
        reply = link.stateful(online.infno, online.input, insuplc_admdvs=online.insuplc_admdvs, ref=receipt_no,
                              msgid=msgid)
        actual = settlement_of(reply.output, draft.cart, customer.policy, s.visit)
    except CentreRefused as exc:
        return _not_settled(link, receipt_no, draft, f"refused by the insurance centre: {exc.err_msg}")
    except CentreClientError as exc:
        if journal.call(msgid)["state"] == "answered":  # answered, but unusable: undo it
            link.reverse(msgid, online.infno)
        return _not_settled(link, receipt_no, draft, f"not settled online ({exc}); settle again")
    setlinfo = reply.output["setlinfo"]
    setl_id = str(setlinfo["setl_id"])
    setl_time = str(setlinfo.get("setl_time") or link._now())
    saved = save_settlement(actual, draft.cart, filing_id=None, category=category, mode="online", setl_id=setl_id,
                            use_account=draft.use_account)
    update = updated_record(record, _card_after(customer, actual.ytd_before, actual.ytd_after), on=now,
                            terminal_id=customer.manager.terminal_id)
    with ctx.store.write() as conn:
        conn.execute("UPDATE counter_sales SET settlement = ?, record_after = ? WHERE receipt_no = ?",
                     (dumps(saved), update.data.hex().upper(), receipt_no))
    journal.add_sale(_sale_row(receipt_no, customer, online.med_type, actual, setl_time, mode="online", msgid=msgid,
                               setl_id=setl_id, psn_no=online.psn_no, state="settled",
                               created=now.isoformat(timespec="seconds")))
    postings = accounts.medical_sale(pooled_fen=actual.pooled_fen, personal_fen=actual.account_fen,
                                     cash_fen=actual.cash_fen)
    details = {"receipt": receipt_no, "mode": "online", "setl_id": setl_id, "msgid": msgid, **sale_details(actual)}
    try:
        booked = ctx.books(customer.manager).purchase(0, postings, txn_type=TXN_ED_PURCHASE, capp_record=update,
                                                      pin=pin, kind=SALE_KIND, details=details)
    except Exception:
        _undo(link, "centre_sales", "receipt_no", receipt_no, msgid, online.infno)
        raise
    if booked.status == "failed":
        _undo(link, "centre_sales", "receipt_no", receipt_no, msgid, online.infno)
    return Sale(receipt_no, booked.status, replace(draft, settlement=actual), booked, mode="online", setl_id=setl_id)


def _undo(link: CentreLink, table: str, key: str, value: str, msgid: str, infno: str) -> None:
    """The card did not take the settlement: reverse it at the centre (or owe the reversal)."""
    done = link.reverse(msgid, infno)
    link._journal().update(table, key, value, upload_state="reversed" if done else "reverse_owed")


def _not_settled(link: CentreLink, receipt_no: str, draft: Draft, reason: str) -> Sale:
    from terminal.counter.sale import Sale

    link._journal().update("centre_sales", "receipt_no", receipt_no, upload_state="failed", upload_note=reason[:500])
    return Sale(receipt_no, "failed", draft, None, mode="online", note=reason)


def _sale_row(receipt_no: str, customer: Customer, med_type: str, s: Any, setl_time: str, *, mode: str,
              msgid: str | None, setl_id: str | None, psn_no: str | None, state: str, created: str) -> dict[str, Any]:
    info = s.to_setlinfo()
    cert = card_cert(customer.identity)
    return {"receipt_no": receipt_no, "mode": mode, "card_no": cert["mdtrt_cert_no"], "card_sn": cert["card_sn"],
            "insuplc": customer.home_region, "insutype": insutype_of(customer.record.scheme), "med_type": med_type,
            "clr_type": CLR_TYPE[med_type], "psn_no": psn_no, "msgid": msgid, "setl_id": setl_id,
            "setl_time": setl_time, "setl_day": setl_time[:10], "medfee_fen": info["medfee_sumamt"],
            "fund_fen": info["fund_pay_sumamt"], "acct_fen": info["acct_pay"], "cash_fen": info["psn_cash_pay"],
            "upload_state": state, "created_at": created}


def queue_sale(link: CentreLink, ctx: Counter, receipt_no: str, draft: Draft, setl_time: str) -> None:
    """An offline sale, queued for upload (Y201) — uploaded once its ledger intent is committed."""
    customer = draft.customer
    person = customer.centre
    link._journal().add_sale(_sale_row(
        receipt_no, customer, MED_TYPE[draft.settlement.visit.visit_type.value], draft.settlement, setl_time,
        mode="offline", msgid=None, setl_id=None, psn_no=person.psn_no if person else None, state="queued",
        created=ctx.now().isoformat(timespec="seconds")))


# ---------------------------------------------------------------- refund
def refund(link: CentreLink, ctx: Counter, sale: Any, lines: Any, *, manager: Any, pin: str) -> Any:
    """Revoke at the centre a sale it holds (settled online, or uploaded); None for a sale it does not hold
    (the counter refunds it offline, and queues the refund when the sale is queued)."""
    from terminal.counter.card import updated_record
    from terminal.counter.errors import CounterError
    from terminal.counter.refund import (REFUND_KIND, TXN_ED_PURCHASE as _T, RefundResult, insert_refund, prepare,
                                         refund_details, refund_postings)

    journal = link._journal()
    row = journal.sale(sale.receipt_no)
    if row is None:
        return None
    if row["mode"] == "offline" and row["upload_state"] == "queued" and link.online:
        try:
            link.upload(ctx)
        except CentreClientError as exc:
            log.info("upload before a refund: %s", exc)
        row = journal.sale(sale.receipt_no) or row
    if row["upload_state"] not in SETTLED:
        return None
    if not link.online:
        raise CounterError(f"sale {sale.receipt_no} is settled at the insurance centre ({row['setl_id']}): its refund "
                           "needs the centre, which is unreachable now; try again later")
    operator = ctx.require_operator("a refund")
    p = prepare(ctx, sale.receipt_no, lines, manager=manager, pin=pin)
    r = p.refund
    refund_no = insert_refund(ctx, sale.receipt_no, r, p.balance_fen, p.now, operator.operator_id,
                              account_back_to_card=False)
    infno = "2208" if row["mode"] == "online" and row["med_type"] in ("11", "14") else "2103"
    data: dict[str, Any] = {"setl_id": row["setl_id"], "psn_no": row["psn_no"],
                            "ykt_lines": [str(i + 1) for i in r.line_indexes]}
    if infno == "2208":
        data["mdtrt_id"] = _mdtrt_id(journal, row)
    t = r.totals
    msgid = link.client.msgids.next()
    journal.begin_call(msgid, infno, refund_no, {"data": data}, row["insuplc"], link._now())
    journal.add_refund({"refund_no": refund_no, "receipt_no": sale.receipt_no, "mode": "online",
                        "lines": json.dumps(list(r.line_indexes)), "msgid": msgid, "setl_id": None,
                        "setl_time": link._now(), "setl_day": link._now()[:10], "medfee_fen": t.amount_fen,
                        "fund_fen": t.pooled_fen, "acct_fen": t.account_fen, "cash_fen": t.cash_fen,
                        "ytd_before": "[]", "upload_state": "settling",
                        "created_at": p.now.isoformat(timespec="seconds")})
    try:
        reply = link.stateful(infno, {"data": data}, insuplc_admdvs=row["insuplc"], ref=refund_no, msgid=msgid)
    except CentreClientError as exc:
        reason = f"refused by the insurance centre: {exc.err_msg}" if isinstance(exc, CentreRefused) else \
            f"not refunded ({exc}); try again"
        journal.update("centre_refunds", "refund_no", refund_no, upload_state="failed", upload_note=reason[:500])
        return RefundResult(refund_no, sale.receipt_no, "failed", r, None, mode="online", note=reason)
    out = reply.output
    setl_id = str(out["setlinfo"]["setl_id"])
    when = str(out["setlinfo"].get("setl_time") or link._now())
    journal.update("centre_refunds", "refund_no", refund_no, setl_id=setl_id, setl_time=when, setl_day=when[:10],
                   upload_state="settled")
    update = updated_record(p.record, _refund_card_after(out, p.balance_fen, r.ytd_after), on=ctx.now(),
                            terminal_id=manager.terminal_id)
    details = {"refund": refund_no, "receipt": sale.receipt_no, "lines": list(r.line_indexes), "mode": "online",
               "setl_id": setl_id, "msgid": msgid, **refund_details(r)}
    try:
        booked = ctx.books(manager).purchase(0, refund_postings(r), txn_type=_T, capp_record=update, pin=pin,
                                             kind=REFUND_KIND, details=details)
    except Exception:
        _undo(link, "centre_refunds", "refund_no", refund_no, msgid, infno)
        raise
    if booked.status == "failed":
        _undo(link, "centre_refunds", "refund_no", refund_no, msgid, infno)
    return RefundResult(refund_no, sale.receipt_no, booked.status, r, booked, mode="online", setl_id=setl_id)


def _refund_card_after(out: dict[str, Any], balance_fen: int, refund_after: YearToDate) -> YearToDate:
    """The centre's counters when the card holds exactly the allowance, else the card's restored ones."""
    from .link import _fen

    ykt = out.get("ykt", {})
    try:
        if _fen(ykt["allowance"]) == balance_fen:
            return ytd_of(ykt["ytd_after"], "ykt.ytd_after")
    except (KeyError, CentreClientError):
        pass
    return refund_after


def _mdtrt_id(journal: Any, row: dict[str, Any]) -> str:
    call = journal.call(row["msgid"]) if row.get("msgid") else None
    if call is None:
        return ""
    from .journal import loads

    request = loads(call["request"]) or {}
    return str(request.get("data", {}).get("mdtrt_id", ""))


def queue_refund(link: CentreLink, ctx: Counter, result: Any, ytd_before: YearToDate) -> None:
    """An offline refund of a sale queued for upload (or refused / void there): queued for Y202."""
    journal = link._journal()
    if journal.sale(result.receipt_no) is None:
        return
    t = result.refund.totals
    now = ctx.now()
    when = now.strftime("%Y-%m-%d %H:%M:%S")
    journal.add_refund({"refund_no": result.refund_no, "receipt_no": result.receipt_no, "mode": "offline",
                        "lines": json.dumps(list(result.refund.line_indexes)), "msgid": None, "setl_id": None,
                        "setl_time": when, "setl_day": when[:10], "medfee_fen": t.amount_fen,
                        "fund_fen": t.pooled_fen, "acct_fen": t.account_fen, "cash_fen": t.cash_fen,
                        "ytd_before": json.dumps([ytd_before.deductible_used_fen, ytd_before.pooled_paid_fen,
                                                  ytd_before.inpatient_pooled_paid_fen]),
                        "upload_state": "queued", "created_at": now.isoformat(timespec="seconds")})


# ---------------------------------------------------------------- recovery, allowance
def recover(link: CentreLink, ctx: Counter) -> list[str]:
    """Settlements the centre holds that the ledger does not: an online sale or refund whose card write
    failed (or a crash before it began, or during the centre's answer). Each is reversed (2601, or owed).
    Returns what was done."""
    from terminal.counter.history import REFUND_KIND, SALE_KIND

    journal = link._journal()
    done = []
    for table, key, kind, intent_key in (("centre_sales", "receipt_no", SALE_KIND, "receipt"),
                                         ("centre_refunds", "refund_no", REFUND_KIND, "refund")):
        rows = (journal.sales if table == "centre_sales" else journal.refunds)(
            "mode = 'online' AND upload_state IN ('settling', 'settled')")
        for row in rows:
            state, *_ = ctx.store.intent_state(kind, intent_key, row[key])
            if state in ("committed", "pending"):
                continue
            if row["upload_state"] == "settling" and state == "void":
                call = journal.call(row["msgid"])
                if call is not None and call["state"] in ("refused", "unsent"):
                    journal.update(table, key, row[key], upload_state="failed")
                    continue
            infno = journal.call(row["msgid"])["infno"]
            _undo(link, table, key, row[key], row["msgid"], infno)
            done.append(f"{row[key]}: the card did not take it ({state}): reversed at the centre")
    return done


def load_allowance(link: CentreLink, ctx: Counter, customer: Customer, amount_fen: int, *, pin: str) -> Any:
    """圈存 (Y301 at the centre, then an ED load on the card); a card load that did not happen is reversed."""
    from terminal.centre.wire import yuan_of
    from terminal.counter.errors import CounterError

    person = customer.centre
    if person is None:
        raise CounterError("an allowance load needs the card identified online (the centre is unreachable)")
    data = {"psn_no": person.psn_no, **card_cert(customer.identity), "amt": yuan_of(amount_fen),
            "ykt_ed_before": yuan_of(customer.account_balance_fen)}
    reply = link.stateful("Y301", {"data": data}, insuplc_admdvs=person.insuplc_admdvs,
                          ref=f"allowance {customer.identity.card_number}")
    books = ctx.books(customer.manager)
    # the centre funds the load: a receivable from it (personal account) against what the card issuer is owed
    booked = books.load(amount_fen, (Posting("personal_account", amount_fen), Posting("purse_float", -amount_fen)),
                        purse="ed",
                        purpose="topup", kind=ALLOWANCE_KIND, details={"msgid": reply.msgid,
                                                                        "card": customer.identity.card_number})
    if booked.status == "failed":
        link.reverse(reply.msgid, "Y301")
    return booked
