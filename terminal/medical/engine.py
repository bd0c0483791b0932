"""The settlement engine: split a bill into pooled fund, personal account and cash (docs/medical.md).

Pure: no files, no clock, no randomness; inputs are the cart, the home policy, the card's year-to-date counters
and personal-account balance; the output is a frozen :class:`Settlement` that also carries the new counters.

Rounding (the only two places a fraction can arise, both per line, both round half up to a whole fen):

1. 先行自付 of a 乙类 line = round_half_up(amount × preselfpay_percent / 100);
2. the pooled share of a line = round_half_up(above-deductible amount × ratio / 100).

Everything else is subtraction or a min(), so each line's parts sum to the line's amount exactly and the
totals (sums of the lines) sum to the bill exactly. The remainder of a rounding always goes to the patient.

Order: lines are processed in cart order for the three things that are consumed across lines — the remaining
deductible, the remaining annual cap and the personal-account balance — so the split is deterministic.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace

from .errors import RefundError, SettlementRefused
from .filings import Filing
from .model import CartLine, ItemClass, Visit, VisitType, YearToDate, check_fen, same_province
from .policy import Policy, WithoutFiling


def round_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half up, for numerator >= 0 and denominator > 0.

    >>> round_half_up(25, 10), round_half_up(24, 10), round_half_up(10800, 1)
    (3, 2, 10800)
    """
    return (2 * numerator + denominator) // (2 * denominator)


@dataclass(frozen=True)
class LineParts:
    """How one cart line was paid. Identities (all fen):

    amount = selfpay + preselfpay + eligible
    eligible = deductible_part + coinsurance + over_cap + pooled
    amount = pooled + account + cash
    """

    index: int  # position in the cart, used by partial refunds
    code: str
    item_class: ItemClass
    amount_fen: int
    selfpay_fen: int  # 丙类 (自费): fulamt_ownpay_amt
    preselfpay_fen: int  # 乙类 先行自付: preselfpay_amt
    eligible_fen: int  # within policy scope: inscp_scp_amt
    deductible_part_fen: int  # paid by the patient under the deductible: act_pay_dedc
    coinsurance_fen: int  # the patient's share above the deductible (1 − ratio)
    over_cap_fen: int  # what the pooled fund would have paid beyond its annual cap
    pooled_fen: int  # 统筹基金: hifp_pay
    account_fen: int  # 个人账户: acct_pay
    cash_fen: int  # 现金: psn_cash_pay

    @property
    def patient_fen(self) -> int:
        """Borne by the person (psn_part_amt) = account + cash."""
        return self.amount_fen - self.pooled_fen

    def to_detail(self) -> dict[str, object]:
        """Per-line result under the platform's fee-detail names (amounts in fen)."""
        return {
            "chrgitm_lv": self.item_class.chrgitm_lv,
            "det_item_fee_sumamt": self.amount_fen,
            "fulamt_ownpay_amt": self.selfpay_fen,
            "preselfpay_amt": self.preselfpay_fen,
            "inscp_scp_amt": self.eligible_fen,
        }


_SUMMED = ("amount_fen", "selfpay_fen", "preselfpay_fen", "eligible_fen", "deductible_part_fen", "coinsurance_fen",
           "over_cap_fen", "pooled_fen", "account_fen", "cash_fen")


@dataclass(frozen=True)
class Parts:
    """Totals of some lines (a whole settlement, or the lines of a refund)."""

    amount_fen: int = 0
    selfpay_fen: int = 0
    preselfpay_fen: int = 0
    eligible_fen: int = 0
    deductible_part_fen: int = 0
    coinsurance_fen: int = 0
    over_cap_fen: int = 0
    pooled_fen: int = 0
    account_fen: int = 0
    cash_fen: int = 0
    class_a_fen: int = 0
    class_b_fen: int = 0
    class_c_fen: int = 0

    @classmethod
    def of(cls, lines: Iterable[LineParts]) -> Parts:
        lines = list(lines)
        sums = {name: sum(getattr(line, name) for line in lines) for name in _SUMMED}
        by_class = {c: sum(line.amount_fen for line in lines if line.item_class is c) for c in ItemClass}
        return cls(**sums, class_a_fen=by_class[ItemClass.A], class_b_fen=by_class[ItemClass.B],
                   class_c_fen=by_class[ItemClass.C])

    @property
    def patient_fen(self) -> int:
        return self.amount_fen - self.pooled_fen

    def to_setlinfo(self) -> dict[str, int]:
        """The platform's ``setlinfo`` names (amounts in fen; the wire format converts to yuan).

        medfee_sumamt = fund_pay_sumamt + psn_part_amt; psn_part_amt = acct_pay + psn_cash_pay.
        """
        return {
            "medfee_sumamt": self.amount_fen,
            "fulamt_ownpay_amt": self.selfpay_fen,
            "overlmt_selfpay": 0,
            "preselfpay_amt": self.preselfpay_fen,
            "inscp_scp_amt": self.eligible_fen,
            "act_pay_dedc": self.deductible_part_fen,
            "hifp_pay": self.pooled_fen,
            "cvlserv_pay": 0,
            "hifmi_pay": 0,
            "maf_pay": 0,
            "fund_pay_sumamt": self.pooled_fen,
            "psn_part_amt": self.patient_fen,
            "acct_pay": self.account_fen,
            "acct_mulaid_pay": 0,
            "psn_cash_pay": self.cash_fen,
        }


class _OfLines:
    """The totals of `lines`: a settlement's, or a refund's (where the parts are paid back)."""

    lines: tuple[LineParts, ...]

    @property
    def totals(self) -> Parts:
        return Parts.of(self.lines)

    @property
    def pooled_fen(self) -> int:
        """The pooled fund's part (a refund: owed back to it)."""
        return self.totals.pooled_fen

    @property
    def account_fen(self) -> int:
        """The personal account's part (a refund: credited back to the card's ED)."""
        return self.totals.account_fen

    @property
    def cash_fen(self) -> int:
        """Paid in cash (a refund: paid back in cash)."""
        return self.totals.cash_fen


@dataclass(frozen=True)
class Settlement(_OfLines):
    """A settled bill: per-line parts, totals, what was applied, and the card counters before and after."""

    policy: Policy
    visit: Visit
    lines: tuple[LineParts, ...]
    ratio_percent: int  # effective ratio (base + retiree bonus − cross-province reduction, within 0..100)
    deductible_fen: int  # the policy deductible that applied (yearly, or per admission)
    cross_province: bool
    filed: bool  # a valid filing (备案) covered this cross-province visit
    retired: bool
    ytd_before: YearToDate
    ytd_after: YearToDate
    account_balance_before_fen: int
    account_balance_after_fen: int

    @property
    def total_fen(self) -> int:
        return self.totals.amount_fen

    @property
    def notes(self) -> tuple[str, ...]:
        """Operator-readable remarks on what shaped this split (cross-province rule, cap reached, no account)."""
        out: list[str] = []
        rule = self.policy.cross_province
        if self.cross_province and self.filed:
            out.append("cross-province (跨省异地) with a filing (备案): home policy applies")
        elif self.cross_province:
            text = f"cross-province (跨省异地) without a filing (备案): ratio lowered by {rule.reduce_points} points"
            out.append(f"{text}: {rule.reason}" if rule.reason else text)
        if self.totals.over_cap_fen:
            out.append(f"annual pooled-fund cap reached: {self.totals.over_cap_fen} fen more paid by the patient")
        if not self.policy.account_available:
            out.append("this scheme has no personal account (个人账户): the patient's part is paid in cash")
        if self.policy.note:
            out.append(self.policy.note)
        return tuple(out)

    def to_setlinfo(self) -> dict[str, int]:
        """Totals under the platform's ``setlinfo`` names, plus ``balc`` (account balance after), in fen."""
        return {**self.totals.to_setlinfo(), "balc": self.account_balance_after_fen}


@dataclass(frozen=True)
class Refund(_OfLines):
    """A (partial) refund: the reversed lines' original parts and the counters restored."""

    original: Settlement
    lines: tuple[LineParts, ...]
    ytd_before: YearToDate
    ytd_after: YearToDate

    @property
    def line_indexes(self) -> tuple[int, ...]:
        return tuple(line.index for line in self.lines)


def _ratio(policy: Policy, visit: Visit, retired: bool, filing: Filing | None) -> tuple[int, bool, bool]:
    """(effective ratio percent, cross_province, filed); raises SettlementRefused per the home policy."""
    ratio = policy.base_ratio_percent(visit.visit_type, visit.hospital_level)
    if retired:
        ratio += policy.retiree_bonus_points
    cross = not same_province(policy.region, visit.treatment_region)
    filed = False
    if cross:
        filed = filing is not None and filing.home_region == policy.region and filing.covers(
            visit.treatment_region, visit.on)
        if not filed:
            rule = policy.cross_province
            if rule.without_filing is WithoutFiling.REFUSE:
                raise SettlementRefused(f"cross-province settlement without a filing (备案) refused by the home "
                                        f"policy {policy.name}: {rule.reason}")
            ratio -= rule.reduce_points
    return max(0, min(100, ratio)), cross, filed


def settle(
    cart: Sequence[CartLine],
    policy: Policy,
    ytd: YearToDate,
    account_balance_fen: int,
    *,
    visit: Visit,
    retired: bool = False,
    filing: Filing | None = None,
    use_account: bool = True,
) -> Settlement:
    """Split `cart` per the home `policy` ("就医地目录、参保地政策": the lines' classes come from the place of
    treatment's catalog, every number from the home policy).

    `ytd` and `account_balance_fen` are read from the card; the result's `ytd_after` and
    `account_balance_after_fen` are what the card must hold after the debit. `retired` adds the policy's
    retiree bonus; `filing` is the insured's 备案 for cross-province care (ignored when it does not cover the
    visit); `use_account` False pays the patient's part in cash only (acct_used_flag = 0).

    >>> from terminal.medical.policy import load_policies
    >>> from datetime import date
    >>> p = load_policies().find("310000", "employee", "active")
    >>> s = settle([CartLine("XJ01CAA040A001", 1, 1250, "甲")], p, YearToDate(), 0,
    ...            visit=Visit(VisitType.PHARMACY, "310000", date(2025, 3, 1)))
    >>> s.pooled_fen + s.account_fen + s.cash_fen == s.total_fen
    True
    """
    if not cart:
        raise ValueError("cannot settle an empty cart")
    for line in cart:
        if not isinstance(line, CartLine):
            raise TypeError(f"cart lines must be CartLine, got {type(line).__name__}")
    if not isinstance(ytd, YearToDate):
        raise TypeError(f"ytd must be YearToDate, got {type(ytd).__name__}")
    check_fen(account_balance_fen, "account_balance_fen")
    if not isinstance(visit, Visit):
        raise TypeError(f"visit must be Visit, got {type(visit).__name__}")
    if retired and "retired" not in policy.categories:
        raise ValueError(f"policy {policy.source} is not for retirees")
    if not retired and policy.categories == ("retired",):
        raise ValueError(f"policy {policy.source} is only for retirees")

    ratio, cross, filed = _ratio(policy, visit, retired, filing)
    inpatient = visit.visit_type is VisitType.INPATIENT
    deductible = policy.deductible_fen(visit.visit_type, visit.hospital_level)
    cap = policy.cap_fen(visit.visit_type)
    pooled_before = ytd.inpatient_pooled_paid_fen if inpatient else ytd.pooled_paid_fen
    deductible_left = deductible if inpatient else max(0, deductible - ytd.deductible_used_fen)
    cap_left = max(0, cap - pooled_before)
    account_left = account_balance_fen if (use_account and policy.account_available) else 0

    lines: list[LineParts] = []
    for index, line in enumerate(cart):
        amount = line.amount_fen
        selfpay = amount if line.item_class is ItemClass.C else 0
        preselfpay = round_half_up(amount * policy.preselfpay_percent, 100) if line.item_class is ItemClass.B else 0
        eligible = amount - selfpay - preselfpay
        deductible_part = min(eligible, deductible_left)
        deductible_left -= deductible_part
        above = eligible - deductible_part
        pooled_uncapped = round_half_up(above * ratio, 100)
        pooled = min(pooled_uncapped, cap_left)
        cap_left -= pooled
        payable_by_account = amount - pooled - (0 if policy.account_pays_selfpay else selfpay)
        account = min(payable_by_account, account_left)
        account_left -= account
        lines.append(LineParts(
            index=index, code=line.code, item_class=line.item_class, amount_fen=amount, selfpay_fen=selfpay,
            preselfpay_fen=preselfpay, eligible_fen=eligible, deductible_part_fen=deductible_part,
            coinsurance_fen=above - pooled_uncapped, over_cap_fen=pooled_uncapped - pooled, pooled_fen=pooled,
            account_fen=account, cash_fen=amount - pooled - account,
        ))

    totals = Parts.of(lines)
    if inpatient:
        ytd_after = replace(ytd, inpatient_pooled_paid_fen=ytd.inpatient_pooled_paid_fen + totals.pooled_fen)
    else:
        ytd_after = replace(ytd, deductible_used_fen=ytd.deductible_used_fen + totals.deductible_part_fen,
                            pooled_paid_fen=ytd.pooled_paid_fen + totals.pooled_fen)
    return Settlement(
        policy=policy, visit=visit, lines=tuple(lines), ratio_percent=ratio, deductible_fen=deductible,
        cross_province=cross, filed=filed, retired=retired, ytd_before=ytd, ytd_after=ytd_after,
        account_balance_before_fen=account_balance_fen,
        account_balance_after_fen=account_balance_fen - totals.account_fen,
    )


def refund(
    original: Settlement,
    lines: Iterable[int] | None = None,
    *,
    ytd: YearToDate | None = None,
    already_refunded: Collection[int] = (),
) -> Refund:
    """Reverse exactly the original parts of the chosen lines (indexes into ``original.lines``; None = every
    line not yet refunded) and restore the year-to-date counters.

    `ytd` is the card's current counters (default: the original's `ytd_after`, i.e. nothing happened since);
    the refunded deductible part and pooled payment are taken off them. Lines are never re-settled: the
    remaining lines keep their original parts, so successive partial refunds add up to the whole.
    """
    done = set(already_refunded)
    if lines is None:
        chosen = [line.index for line in original.lines if line.index not in done]
    else:
        chosen = list(lines)
    if not chosen:
        raise RefundError("nothing to refund: every line is already refunded" if lines is None
                          else "nothing to refund: no lines given")
    if len(set(chosen)) != len(chosen):
        raise RefundError(f"a line is named twice: {chosen}")
    for index in chosen:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(original.lines):
            raise RefundError(f"no line {index!r} in the settlement (it has {len(original.lines)})")
        if index in done:
            raise RefundError(f"line {index} was already refunded")
    reversed_lines = tuple(original.lines[i] for i in sorted(chosen))
    totals = Parts.of(reversed_lines)

    before = original.ytd_after if ytd is None else ytd
    if original.visit.visit_type is VisitType.INPATIENT:
        changes = {"inpatient_pooled_paid_fen": before.inpatient_pooled_paid_fen - totals.pooled_fen}
    else:
        changes = {"deductible_used_fen": before.deductible_used_fen - totals.deductible_part_fen,
                   "pooled_paid_fen": before.pooled_paid_fen - totals.pooled_fen}
    negative = [name for name, value in changes.items() if value < 0]
    if negative:
        raise RefundError(f"the card's counters are below what this refund restores ({', '.join(negative)})")
    after = replace(before, **changes)
    return Refund(original=original, lines=reversed_lines, ytd_before=before, ytd_after=after)
