"""The counter's link to the insurance centre: online when the centre answers within the timeout, offline
otherwise (docs/centre.md "Online and offline at the counter").

`CentreLink` is what `terminal.counter.Counter` calls when it has one (`Counter.open(centre=…)`, or
`$YKT_CENTRE_URL`): 9001 at login, 1101 at identify, 2101 (pharmacy) or 2201→2203→2204→2206 (clinic) at
preview, 2102 / 2207 at pay, 2103 / 2208 at refund, 2601 when an answer is lost, Y201/Y202 uploads of what
was settled offline, 3201/3202 at day close, 9002 at logout. A request that gets no answer marks the link
offline for `retry_after_s`; the next request after that tries again.

State-changing requests (`stateful`) are journalled before they are sent; a lost answer is first confirmed
by resending the same msgid (the centre answers a msgid once, and a retry gets that answer), then reversed
with 2601 — or, when even that cannot reach the centre, the 2601 is owed and goes first at the next upload.
Either way the request can no longer take effect unseen: each sale is settled exactly once.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from terminal.centre.wire import INSTITUTION_RE, format_time
from terminal.medical import CartLine, Visit, VisitType, YearToDate

from .client import DEFAULT_TIMEOUT_S, CentreClient, Institution, MsgIds, Reply
from .convert import MED_TYPE, card_cert, fee_lines, insutype_of, settlement_of, ytd_of
from .errors import CentreProtocolError, CentreRefused, CentreUnreachable
from .journal import Journal

if TYPE_CHECKING:
    from terminal.counter.card import Customer
    from terminal.counter.counter import Counter
    from terminal.counter.sale import Draft

log = logging.getLogger(__name__)

DEFAULT_INSTITUTION = "P31000000001"  # the demo pharmacy of data/centre/institutions.csv
REVERSIBLE = ("2102", "2103", "2207", "2208", "Y201", "Y202", "Y301")


class AnswerLost(CentreUnreachable):
    """A state-changing request got no answer even on retry; `reversed`: a 2601 undid it (else it is owed)."""

    def __init__(self, message: str, *, reversed_now: bool) -> None:
        super().__init__(message, sent=True)
        self.reversed_now = reversed_now


@dataclass(frozen=True)
class CentrePerson:
    """What 1101 said about the card's holder."""

    psn_no: str
    insutype: str
    insuplc_admdvs: str
    psn_insu_stas: str
    balc_fen: int  # the personal account held at the centre
    allowance_fen: int  # the part of the account the centre believes is on the card's ED
    year: int
    ytd: YearToDate  # the centre's counters
    card_no: str
    card_sn: str


@dataclass(frozen=True)
class OnlineDraft:
    """An online preview: the request 2102 / 2207 will send (same input as the pre-settlement)."""

    infno: str  # 2102 or 2207
    input: dict[str, Any]
    insuplc_admdvs: str
    psn_no: str
    med_type: str
    mdtrt_id: str = ""


class CentreLink:
    """Online/offline switch, journal and upload queue of one counter (see the module docstring)."""

    def __init__(self, client: CentreClient, *, retry_after_s: float = 30.0, confirm_retries: int = 1,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.retry_after_s = retry_after_s
        self.confirm_retries = confirm_retries
        self._monotonic = monotonic
        self._down_until = 0.0
        self.journal: Journal | None = None
        self.operator: tuple[str, str] | None = None
        self.last_error: str | None = None

    @classmethod
    def connect(cls, url: str, *, fixmedins_code: str = DEFAULT_INSTITUTION, fixmedins_name: str = "",
                region: str = "310000", timeout: float = DEFAULT_TIMEOUT_S,
                clock: Callable[[], _dt.datetime] = _dt.datetime.now, **kwargs: Any) -> CentreLink:
        if not INSTITUTION_RE.match(fixmedins_code):
            raise ValueError(f"fixmedins_code must be 12 upper-case letters/digits, got {fixmedins_code!r}")
        institution = Institution(fixmedins_code, fixmedins_name or f"yikatong counter {fixmedins_code}", region)
        return cls(CentreClient(url, institution, timeout=timeout, clock=clock), **kwargs)

    @classmethod
    def from_env(cls, *, region: str, clock: Callable[[], _dt.datetime]) -> CentreLink | None:
        """A link from `$YKT_CENTRE_URL` (and `$YKT_FIXMEDINS_CODE`, `$YKT_CENTRE_TIMEOUT`), or None."""
        url = os.environ.get("YKT_CENTRE_URL")
        if not url:
            return None
        timeout = float(os.environ.get("YKT_CENTRE_TIMEOUT") or DEFAULT_TIMEOUT_S)
        return cls.connect(url, fixmedins_code=os.environ.get("YKT_FIXMEDINS_CODE") or DEFAULT_INSTITUTION,
                           region=region, timeout=timeout, clock=clock)

    def attach(self, counter: Counter) -> None:
        """Open the journal in the counter's ledger database; msgids continue after the last one used."""
        if self.journal is None:
            self.journal = Journal(counter.ledger.path)
            inst = self.client.institution.fixmedins_code
            # after a restart, msgids start in the next second (read-only requests are not journalled) or after
            # the last journalled one, whichever is later
            floor = f"{inst}{self.client._clock().strftime('%Y%m%d%H%M%S')}9999"
            last = self.journal.last_msgid()
            if last and last.startswith(inst) and last[12:] > floor[12:]:
                floor = last
            self.client.msgids = MsgIds(inst, self.client._clock, floor)

    def close(self) -> None:
        if self.journal is not None:
            self.journal.close()
            self.journal = None
        self.client.close()

    def __repr__(self) -> str:
        return f"CentreLink({self.client.url!r}, {'online' if self.online else 'offline'})"

    # ---------------------------------------------------------------- online / offline
    @property
    def online(self) -> bool:
        """Not known to be down (the next request will tell)."""
        return self._monotonic() >= self._down_until

    def _went_down(self, exc: Exception) -> None:
        self.last_error = str(exc)
        self._down_until = self._monotonic() + self.retry_after_s
        log.warning("insurance centre unreachable, offline for %.0f s: %s", self.retry_after_s, exc)

    def _now(self) -> str:
        return format_time(self.client._clock())

    def _ensure_signed_in(self) -> None:
        if not self.client.sign_no and self.operator is not None:
            self.client.sign_in(*self.operator)

    def call(self, infno: str, input_: dict[str, Any], *, insuplc_admdvs: str = "") -> Reply:
        """A request that changes nothing of value (1101, 2101, 2201…2206, 3201, 3202): no journal."""
        if not self.online:
            raise CentreUnreachable(f"offline (the centre did not answer: {self.last_error})", sent=False)
        try:
            self._ensure_signed_in()
            reply = self.client.call(infno, input_, insuplc_admdvs=insuplc_admdvs)
        except CentreUnreachable as exc:
            self._went_down(exc)
            raise
        return reply

    def stateful(self, infno: str, input_: dict[str, Any], *, insuplc_admdvs: str = "", ref: str | None = None,
                 msgid: str | None = None, reverse_if_lost: bool = True) -> Reply:
        """A state-changing request, journalled before it is sent, confirmed or reversed when its answer is
        lost (AnswerLost). `msgid` resends an earlier request (the same input)."""
        journal = self._journal()
        try:
            if not self.online:
                raise CentreUnreachable(f"offline (the centre did not answer: {self.last_error})", sent=False)
            try:
                self._ensure_signed_in()
            except CentreUnreachable as exc:
                self._went_down(exc)
                raise
        except CentreUnreachable as exc:
            if msgid is not None and (row := journal.call(msgid)) is not None and row["state"] == "sent":
                journal.end_call(msgid, "unsent", self._now(), reason=str(exc))  # journalled, never sent
            raise
        if msgid is None:
            msgid = self.client.msgids.next()
            journal.begin_call(msgid, infno, ref, input_, insuplc_admdvs, self._now())
        last: CentreUnreachable | None = None
        for attempt in range(1 + self.confirm_retries):
            try:
                reply = self.client.call(infno, input_, msgid=msgid, insuplc_admdvs=insuplc_admdvs)
            except CentreRefused as exc:
                journal.end_call(msgid, "refused", self._now(), reason=exc.err_msg[:500])
                raise
            except CentreUnreachable as exc:
                if not exc.sent and attempt == 0:
                    journal.end_call(msgid, "unsent", self._now(), reason=str(exc))
                    self._went_down(exc)
                    raise
                last = exc
                log.info("%s %s: answer lost (%s), confirming with the same msgid", infno, msgid, exc)
                continue
            journal.end_call(msgid, "answered", self._now(), answer=reply.output)
            return reply
        journal.end_call(msgid, "lost", self._now(), reason=str(last))
        if not reverse_if_lost:
            self._went_down(last or CentreUnreachable("lost", sent=True))
            raise AnswerLost(f"{infno} {msgid}: no answer ({last}); it will be resent", reversed_now=False)
        reversed_now = self.reverse(msgid, infno)
        if not reversed_now:
            self._went_down(last or CentreUnreachable("lost", sent=True))
        what = "reversed by 2601" if reversed_now else "its reversal (2601) goes first at the next upload"
        raise AnswerLost(f"the centre's answer to {infno} was lost: {what}", reversed_now=reversed_now)

    def reverse(self, omsgid: str, oinfno: str) -> bool:
        """2601 of `omsgid`; True when the centre confirmed it (the journal row becomes reversed), False when
        it could not be reached (the row becomes reverse_owed)."""
        journal = self._journal()
        request = {"data": {"omsgid": omsgid, "oinfno": oinfno}}
        msgid = self.client.msgids.next()
        journal.begin_call(msgid, "2601", omsgid, request, "", self._now())
        for _ in range(1 + self.confirm_retries):
            try:
                reply = self.client.call("2601", request, msgid=msgid)
            except CentreUnreachable as exc:
                if not exc.sent:
                    break
                continue
            except CentreRefused as exc:
                journal.end_call(msgid, "refused", self._now(), reason=exc.err_msg[:500])
                journal.end_call(omsgid, "reverse_refused", self._now(), reason=exc.err_msg[:500])
                log.error("2601 of %s refused: %s", omsgid, exc.err_msg)
                return False
            journal.end_call(msgid, "answered", self._now(), answer=reply.output)
            journal.end_call(omsgid, "reversed", self._now(), reason=f"2601 {msgid}")
            return True
        journal.end_call(msgid, "unsent", self._now(), reason="unreachable")
        journal.end_call(omsgid, "reverse_owed", self._now(), reason="2601 not delivered yet")
        return False

    def _journal(self) -> Journal:
        if self.journal is None:
            raise RuntimeError("the centre link is not attached to a counter")
        return self.journal

    # ---------------------------------------------------------------- sign in / out
    def sign_in(self, operator_id: str, name: str = "") -> bool:
        """9001 at login (best effort: offline, the sign-in happens with the first request that gets through)."""
        self.operator = (operator_id, name or operator_id)
        self.client.sign_no = ""
        if not self.online:
            return False
        try:
            self.client.sign_in(*self.operator)
        except CentreUnreachable as exc:
            self._went_down(exc)
            return False
        except CentreRefused as exc:
            log.warning("9001 refused: %s", exc.err_msg)
            self.last_error = exc.err_msg
            return False
        return True

    def sign_out(self) -> None:
        """9002 at logout (best effort)."""
        if self.client.sign_no and self.online:
            try:
                self.client.sign_out()
            except (CentreUnreachable, CentreRefused) as exc:
                log.info("9002: %s", exc)
        self.client.sign_no = ""
        self.operator = None

    # ---------------------------------------------------------------- person
    def person(self, customer: Customer) -> CentrePerson | None:
        """1101 for the card's holder; None when offline. CentreRefused passes through."""
        return self._person(card_cert(customer.identity))

    def person_by_qr(self, payload: str) -> CentrePerson | None:
        """1101 with the e-credential (mdtrt_cert_type 01: yikatong's signed QR plays the platform's ecToken);
        None when offline. CentreRefused passes through (an expired or forged code, a person not insured)."""
        return self._person({"mdtrt_cert_type": "01", "mdtrt_cert_no": "".join(payload.split()), "card_sn": ""})

    def _person(self, cert: dict[str, str]) -> CentrePerson | None:
        request = {k: v for k, v in cert.items() if v}
        try:
            reply = self.call("1101", {"data": {**request, "begntime": self._now()}})
        except CentreUnreachable:
            return None
        out = reply.output
        try:
            base, info, ykt = out["baseinfo"], out["insuinfo"][0], out["ykt"]
            return CentrePerson(
                psn_no=str(base["psn_no"]), insutype=str(info["insutype"]), insuplc_admdvs=str(info["insuplc_admdvs"]),
                psn_insu_stas=str(info["psn_insu_stas"]), balc_fen=_fen(ykt["balc"]),
                allowance_fen=_fen(ykt["allowance"]), year=int(ykt["year"]), ytd=ytd_of(ykt["ytd"], "ykt.ytd"),
                card_no=str(ykt.get("card_no") or ""), card_sn=cert["card_sn"])
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise CentreProtocolError(f"1101 answered without the person's facts ({exc})") from None

    # ---------------------------------------------------------------- preview
    def preview(self, ctx: Counter, customer: Customer, cart: tuple[CartLine, ...], *, visit_type: VisitType,
                hospital_level: int | None, use_account: bool) -> Draft | None:
        """The centre's pre-settlement as a Draft, or None when offline (the caller settles offline)."""
        from terminal.counter.sale import Draft

        person = customer.centre
        if person is None or visit_type is VisitType.INPATIENT or not self.online:
            return None
        cert = card_cert(customer.identity)
        med_type = MED_TYPE[visit_type.value]
        total = sum(line.amount_fen for line in cart)
        from terminal.centre.wire import yuan_of

        common = {"psn_no": person.psn_no, **cert, "med_type": med_type, "medfee_sumamt": yuan_of(total),
                  "insutype": person.insutype, "acct_used_flag": "1" if use_account else "0"}
        insuplc = person.insuplc_admdvs
        try:
            if visit_type is VisitType.PHARMACY:
                settle_input: dict[str, Any] = {"druginfo": common, "drugdetail": fee_lines(cart)}
                reply = self.call("2101", settle_input, insuplc_admdvs=insuplc)
                online = OnlineDraft("2102", settle_input, insuplc, person.psn_no, med_type)
            else:
                mdtrt_id, batch = self._clinic_visit(person, cert, cart, med_type, insuplc)
                settle_input = {"data": {**common, "mdtrt_id": mdtrt_id, "chrg_bchno": batch, "psn_setlway": "01"}}
                reply = self.call("2206", settle_input, insuplc_admdvs=insuplc)
                online = OnlineDraft("2207", settle_input, insuplc, person.psn_no, med_type, mdtrt_id)
        except CentreUnreachable:
            return None
        ykt = reply.output.get("ykt", {})
        level = None if visit_type is VisitType.PHARMACY else int(ykt.get("hospital_level") or hospital_level or 1)
        visit = Visit(visit_type, ctx.treatment_region, customer.read_on, level)
        s = settlement_of(reply.output, cart, customer.policy, visit)
        return Draft(customer, cart, s, None, online=online, use_account=use_account)

    def _clinic_visit(self, person: CentrePerson, cert: dict[str, str], cart: tuple[CartLine, ...], med_type: str,
                      insuplc: str) -> tuple[str, str]:
        """2201 register, 2203 visit information, 2204 the fee lines: (mdtrt_id, chrg_bchno)."""
        stamp = self.client.msgids.next()[12:]
        now = self._now()
        reg = self.call("2201", {"data": {"psn_no": person.psn_no, "insutype": person.insutype, "begntime": now, **cert,
                                          "ipt_otp_no": f"OTP{stamp}", "dept_code": "A01", "dept_name": "门诊",
                                          "atddr_no": "D001", "dr_name": "-"}}, insuplc_admdvs=insuplc)
        mdtrt_id = str(reg.output["data"]["mdtrt_id"])
        self.call("2203", {"mdtrtinfo": {"mdtrt_id": mdtrt_id, "psn_no": person.psn_no, "med_type": med_type,
                                         "begntime": now}}, insuplc_admdvs=insuplc)
        batch = f"B{stamp}"
        fees = [{**line, "mdtrt_id": mdtrt_id, "psn_no": person.psn_no, "chrg_bchno": batch, "fee_ocur_time": now}
                for line in fee_lines(cart)]
        self.call("2204", {"feedetail": fees}, insuplc_admdvs=insuplc)
        return mdtrt_id, batch

    # ---------------------------------------------------------------- the flows (flows.py, upload.py)
    def identified(self, ctx: Counter, customer: Customer, pin: str) -> Customer:
        from .flows import identified

        return identified(self, ctx, customer, pin)

    def pay(self, ctx: Counter, draft: Draft, pin: str) -> Any:
        from .flows import pay_online

        return pay_online(self, ctx, draft, pin)

    def queue_sale(self, ctx: Counter, receipt_no: str, draft: Draft, setl_time: str) -> None:
        from .flows import queue_sale

        queue_sale(self, ctx, receipt_no, draft, setl_time)

    def refund(self, ctx: Counter, sale: Any, lines: Any, *, manager: Any, pin: str) -> Any:
        from .flows import refund

        return refund(self, ctx, sale, lines, manager=manager, pin=pin)

    def queue_refund(self, ctx: Counter, result: Any, ytd_before: YearToDate) -> None:
        from .flows import queue_refund

        queue_refund(self, ctx, result, ytd_before)

    def recover(self, ctx: Counter) -> list[str]:
        from .flows import recover

        return recover(self, ctx)

    def upload(self, ctx: Counter) -> Any:
        from .upload import upload

        return upload(self, ctx)

    def reconcile_day(self, ctx: Counter, day: str) -> dict[str, Any]:
        from .upload import reconcile_day

        return reconcile_day(self, ctx, day)

    def load_allowance(self, ctx: Counter, customer: Customer, amount_fen: int, *, pin: str) -> Any:
        from .flows import load_allowance

        return load_allowance(self, ctx, customer, amount_fen, pin=pin)


def _fen(value: object) -> int:
    from terminal.centre.wire import MoneyError, fen_of

    try:
        return fen_of(value, "amount")
    except MoneyError as exc:
        raise CentreProtocolError(str(exc)) from None


def with_person(customer: Customer, person: CentrePerson | None) -> Customer:
    return replace(customer, centre=person)


__all__ = ["AnswerLost", "CentreLink", "CentrePerson", "OnlineDraft", "insutype_of"]
