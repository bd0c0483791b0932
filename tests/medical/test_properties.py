"""Property tests of the engine: parts >= 0, parts sum to the bill, cap respected, monotonic in the ratio,
refunds reverse exactly and restore the counters."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from terminal.medical import (
    ByLevel,
    CartLine,
    CrossProvinceRule,
    Filing,
    InpatientRules,
    ItemClass,
    OutpatientRules,
    Policy,
    Scheme,
    Visit,
    VisitType,
    WithoutFiling,
    YearToDate,
    refund,
    settle,
)

settings.register_profile("medical", max_examples=150, deadline=None)
settings.load_profile("medical")

FEN = st.integers(min_value=0, max_value=2_000_000)
PERCENT = st.integers(min_value=0, max_value=100)


@st.composite
def policies(draw: st.DrawFn, ratio: int | None = None) -> Policy:
    def pct() -> int:
        return ratio if ratio is not None else draw(PERCENT)

    available = draw(st.booleans())
    return Policy(
        source="<generated>", region="510100", scheme=Scheme.EMPLOYEE, categories=("active", "retired"),
        name="generated", preselfpay_percent=draw(PERCENT), account_available=available,
        account_pays_selfpay=available and draw(st.booleans()), retiree_bonus_points=draw(st.integers(0, 30)),
        outpatient=OutpatientRules(draw(FEN), draw(FEN), pct(), ByLevel(pct(), pct(), pct())),
        inpatient=InpatientRules(ByLevel(draw(FEN), draw(FEN), draw(FEN)), ByLevel(pct(), pct(), pct()), draw(FEN)),
        cross_province=CrossProvinceRule(WithoutFiling.REDUCE, draw(st.integers(1, 100))),
    )


lines = st.builds(
    CartLine,
    code=st.sampled_from(["XJ01CAA040A001", "ZA01AAB0010001", "C1401000000001"]),
    quantity=st.integers(1, 5),
    unit_price_fen=st.integers(0, 300_000),
    item_class=st.sampled_from(list(ItemClass)),
)
carts = st.lists(lines, min_size=1, max_size=8)
ytds = st.builds(YearToDate, FEN, FEN, FEN)


@st.composite
def visits(draw: st.DrawFn) -> Visit:
    kind = draw(st.sampled_from(list(VisitType)))
    level = None if kind is VisitType.PHARMACY else draw(st.sampled_from([1, 2, 3]))
    region = draw(st.sampled_from(["510100", "510000", "310000", "440100"]))
    return Visit(kind, region, date(2025, 3, 1), hospital_level=level)


filings = st.one_of(st.none(), st.just(Filing("BA1", "510104198802030103", "510100", "310000", "residence",
                                               date(2024, 1, 1))))
settlements = st.builds(
    lambda cart, policy, ytd, balance, visit, retired, filing, use_account: settle(
        cart, policy, ytd, balance, visit=visit, retired=retired, filing=filing, use_account=use_account),
    carts, policies(), ytds, FEN, visits(), st.booleans(), filings, st.booleans(),
)


def _remaining_cap(s) -> int:
    inpatient = s.visit.visit_type is VisitType.INPATIENT
    before = s.ytd_before.inpatient_pooled_paid_fen if inpatient else s.ytd_before.pooled_paid_fen
    return max(0, s.policy.cap_fen(s.visit.visit_type) - before)


@given(settlements)
def test_parts_are_non_negative_and_sum_to_the_bill(s) -> None:
    for line in s.lines:
        parts = (line.selfpay_fen, line.preselfpay_fen, line.eligible_fen, line.deductible_part_fen,
                 line.coinsurance_fen, line.over_cap_fen, line.pooled_fen, line.account_fen, line.cash_fen)
        assert all(p >= 0 for p in parts)
        assert line.selfpay_fen + line.preselfpay_fen + line.eligible_fen == line.amount_fen
        assert (line.deductible_part_fen + line.coinsurance_fen + line.over_cap_fen + line.pooled_fen
                == line.eligible_fen)
        assert line.pooled_fen + line.account_fen + line.cash_fen == line.amount_fen
    t = s.totals
    info = s.to_setlinfo()
    assert t.pooled_fen + t.account_fen + t.cash_fen == t.amount_fen == sum(line.amount_fen for line in s.lines)
    assert t.class_a_fen + t.class_b_fen + t.class_c_fen == t.amount_fen
    assert info["medfee_sumamt"] == info["fund_pay_sumamt"] + info["psn_part_amt"]
    assert info["psn_part_amt"] == info["acct_pay"] + info["psn_cash_pay"]


@given(settlements)
def test_pooled_fund_never_exceeds_the_remaining_cap(s) -> None:
    assert s.pooled_fen <= _remaining_cap(s)


@given(settlements)
def test_account_rules(s) -> None:
    assert s.account_fen <= s.account_balance_before_fen
    assert s.account_balance_after_fen == s.account_balance_before_fen - s.account_fen >= 0
    if not s.policy.account_available:
        assert s.account_fen == 0
    if not s.policy.account_pays_selfpay:
        for line in s.lines:
            assert line.account_fen <= line.amount_fen - line.pooled_fen - line.selfpay_fen


@given(settlements)
def test_deductible_counter_never_passes_the_deductible_through_settlement(s) -> None:
    if s.visit.visit_type is not VisitType.INPATIENT:
        assert s.ytd_after.deductible_used_fen <= max(s.ytd_before.deductible_used_fen, s.deductible_fen)
    assert s.totals.deductible_part_fen <= s.deductible_fen


@given(carts, st.data(), ytds, FEN, visits(), st.integers(0, 100), st.integers(0, 100))
def test_monotonic_in_the_ratio(cart, data, ytd, balance, visit, r1, r2) -> None:
    low, high = sorted((r1, r2))
    base = data.draw(policies(ratio=low))
    raised = replace(
        base,
        outpatient=replace(base.outpatient, pharmacy_ratio_percent=high, ratio_percent=ByLevel(high, high, high)),
        inpatient=replace(base.inpatient, ratio_percent=ByLevel(high, high, high)),
    )
    a = settle(cart, base, ytd, balance, visit=visit)
    b = settle(cart, raised, ytd, balance, visit=visit)
    assert a.ratio_percent <= b.ratio_percent
    assert a.pooled_fen <= b.pooled_fen
    assert a.totals.patient_fen >= b.totals.patient_fen
    assert a.totals.deductible_part_fen == b.totals.deductible_part_fen
    for la, lb in zip(a.lines, b.lines, strict=True):
        assert la.pooled_fen + la.over_cap_fen <= lb.pooled_fen + lb.over_cap_fen


@given(settlements)
def test_refund_of_all_lines_is_the_original_and_restores_counters(s) -> None:
    r = refund(s)
    assert r.totals == s.totals
    assert (r.pooled_fen, r.account_fen, r.cash_fen) == (s.pooled_fen, s.account_fen, s.cash_fen)
    assert r.ytd_after == s.ytd_before


@given(settlements, st.data())
def test_partial_refunds_add_up_to_the_whole(s, data) -> None:
    indexes = list(range(len(s.lines)))
    first = data.draw(st.lists(st.sampled_from(indexes), unique=True, min_size=1, max_size=len(indexes)))
    r1 = refund(s, first)
    rest = [i for i in indexes if i not in first]
    if not rest:
        assert r1.ytd_after == s.ytd_before
        return
    r2 = refund(s, None, ytd=r1.ytd_after, already_refunded=first)
    assert sorted(r1.line_indexes + r2.line_indexes) == indexes
    for name in ("pooled_fen", "account_fen", "cash_fen", "amount_fen", "deductible_part_fen"):
        assert getattr(r1.totals, name) + getattr(r2.totals, name) == getattr(s.totals, name)
    assert r2.ytd_after == s.ytd_before
