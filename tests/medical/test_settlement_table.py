"""Settlement table: cases driven by the shipped policy files (data/policies/*.toml).

Each row names a policy file, the visit, the cart as (class, fen) lines, the card's counters and account
balance, and the expected split. The comment on each row is the hand calculation. Amounts in fen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pytest

from terminal.medical import Filing, SettlementRefused, YearToDate, settle

from .helpers import cart, policies, visit

ZHAO_SSN = "510104198802030103"
AYGULI_SSN = "650102199006110121"
FILING_SH = Filing("BA1", ZHAO_SSN, "510100", "310000", "residence", date(2024, 1, 15))
FILING_GZ = Filing("BA2", ZHAO_SSN, "510100", "440100", "temporary", date(2025, 6, 1), date(2025, 8, 31))
FILING_BJ = Filing("BA3", AYGULI_SSN, "650100", "110000", "referral", date(2024, 9, 1), date(2024, 12, 31))


@dataclass(frozen=True)
class Case:
    id: str
    policy: str
    visit: tuple  # (kind, treatment region, level, date)
    lines: tuple[tuple[str, int], ...]
    expect: dict[str, int | bool] | str  # expected parts, or the SettlementRefused reason fragment
    ytd: YearToDate = YearToDate()
    balance: int = 0
    retired: bool = False
    filing: Filing | None = None
    use_account: bool = True
    ytd_after: YearToDate | None = field(default=None)


D = date(2025, 3, 1)
SHA, SHR, SHRES = "shanghai-employee-active", "shanghai-employee-retired", "shanghai-resident"
BJ, HZ, HZS, CD, UR, GZ = ("beijing-resident", "hangzhou-resident", "hangzhou-resident-student", "chengdu-employee",
                           "urumqi-employee", "guangzhou-resident")


def e(ratio: int, pooled: int, account: int, cash: int, ded: int = 0, pre: int = 0, selfpay: int = 0,
      cross: bool = False, filed: bool = False, over_cap: int = 0) -> dict[str, int | bool]:
    return dict(ratio=ratio, pooled=pooled, account=account, cash=cash, ded=ded, pre=pre, selfpay=selfpay,
                cross=cross, filed=filed, over_cap=over_cap)


CASES = [
    # --- Shanghai employee, active: pharmacy 50 %, levels 65/60/50, deductible 1,500 元/yr, cap 20,000 元 ---
    Case("sha-pharmacy-under-deductible", SHA, ("pharmacy", "310000", None, D), (("甲", 10000),),
         # all 100.00 under the 1,500.00 deductible → patient; account pays it
         e(50, 0, 10000, 0, ded=10000), balance=50000, ytd_after=YearToDate(10000, 0)),
    Case("sha-pharmacy-deductible-met", SHA, ("pharmacy", "310000", None, D), (("甲", 10000),),
         # 100.00 × 50 % = 50.00 pooled, 50.00 patient from the account
         e(50, 5000, 5000, 0), ytd=YearToDate(150000, 0), balance=50000, ytd_after=YearToDate(150000, 5000)),
    Case("sha-pharmacy-class-b-small-account", SHA, ("pharmacy", "310000", None, D), (("乙", 10000),),
         # 先行自付 10.00; 90.00 × 50 % = 45.00 pooled; patient 55.00 = account 20.00 + cash 35.00
         e(50, 4500, 2000, 3500, pre=1000), ytd=YearToDate(150000, 0), balance=2000),
    Case("sha-pharmacy-class-c-account-pays-selfpay", SHA, ("pharmacy", "310000", None, D), (("丙", 10000),),
         # 丙类 wholly self-paid; this policy lets the account pay 自费
         e(50, 0, 10000, 0, selfpay=10000), ytd=YearToDate(150000, 0), balance=50000),
    Case("sha-outpatient-l1-crosses-deductible", SHA, ("outpatient", "310000", 1, D), (("甲", 30000),),
         # 100.00 of deductible left; 200.00 × 65 % = 130.00 pooled; 170.00 cash
         e(65, 13000, 0, 17000, ded=10000), ytd=YearToDate(140000, 0), ytd_after=YearToDate(150000, 13000)),
    Case("sha-outpatient-l2", SHA, ("outpatient", "310000", 2, D), (("甲", 30000),),
         # 300.00 × 60 % = 180.00; patient 120.00 from the account
         e(60, 18000, 12000, 0), ytd=YearToDate(150000, 0), balance=100000),
    Case("sha-outpatient-l3", SHA, ("outpatient", "310000", 3, D), (("甲", 30000),),
         e(50, 15000, 0, 15000), ytd=YearToDate(150000, 0)),  # 300.00 × 50 %
    Case("sha-inpatient-l3-per-admission-deductible", SHA, ("inpatient", "310000", 3, D), (("甲", 1000000),),
         # admission deductible 1,500.00 (the yearly outpatient counter is irrelevant); 8,500.00 × 85 % = 7,225.00
         e(85, 722500, 0, 277500, ded=150000), ytd=YearToDate(150000, 0),
         ytd_after=YearToDate(150000, 0, 722500)),
    Case("sha-inpatient-l1", SHA, ("inpatient", "310000", 1, D), (("甲", 200000),),
         e(92, 138000, 0, 62000, ded=50000)),  # 500.00 deductible; 1,500.00 × 92 % = 1,380.00
    Case("sha-pharmacy-hits-cap", SHA, ("pharmacy", "310000", None, D), (("甲", 10000),),
         # 10.00 of cap left: 50.00 computed, 10.00 paid, 40.00 over the cap → patient
         e(50, 1000, 0, 9000, over_cap=4000), ytd=YearToDate(150000, 1999000),
         ytd_after=YearToDate(150000, 2000000)),
    Case("sha-pharmacy-cap-exhausted", SHA, ("pharmacy", "310000", None, D), (("甲", 10000),),
         e(50, 0, 0, 10000, over_cap=5000), ytd=YearToDate(150000, 2000000)),
    Case("sha-pharmacy-cash-only-by-choice", SHA, ("pharmacy", "310000", None, D), (("甲", 10000),),
         e(50, 5000, 0, 5000), ytd=YearToDate(150000, 0), balance=50000, use_account=False),
    Case("sha-pharmacy-deductible-spans-lines", SHA, ("pharmacy", "310000", None, D), (("甲", 3000), ("甲", 4000)),
         # 50.00 deductible left: line 1 all 30.00, line 2 20.00 + 20.00 × 50 % = 10.00 pooled
         e(50, 1000, 0, 6000, ded=5000), ytd=YearToDate(145000, 0), ytd_after=YearToDate(150000, 1000)),
    # --- Shanghai employee, retired: +10 points, deductible 700 元/yr ---
    Case("shr-pharmacy-bonus", SHR, ("pharmacy", "310000", None, D), (("甲", 10000),),
         e(60, 6000, 4000, 0), ytd=YearToDate(70000, 0), balance=10000, retired=True),  # (50 + 10) %
    Case("shr-outpatient-l1", SHR, ("outpatient", "310000", 1, D), (("甲", 50000),),
         # 100.00 deductible left; 400.00 × 75 % = 300.00; patient 200.00 = 50.00 account + 150.00 cash
         e(75, 30000, 5000, 15000, ded=10000), ytd=YearToDate(60000, 0), balance=5000, retired=True),
    Case("shr-inpatient-l2", SHR, ("inpatient", "310000", 2, D), (("甲", 1000000),),
         e(92, 855600, 0, 144400, ded=70000), retired=True),  # 9,300.00 × (82 + 10) % = 8,556.00
    # --- Shanghai resident: no personal account ---
    Case("shres-pharmacy-no-account", SHRES, ("pharmacy", "310000", None, D), (("乙", 10000),),
         # 10.00 先行自付, 90.00 × 50 % = 45.00; 55.00 all cash although the card holds 1,000.00
         e(50, 4500, 0, 5500, pre=1000), ytd=YearToDate(30000, 0), balance=100000),
    Case("shres-outpatient-l1", SHRES, ("outpatient", "310000", 1, D), (("甲", 40000),),
         e(70, 7000, 0, 33000, ded=30000)),  # 300.00 deductible; 100.00 × 70 %
    Case("shres-inpatient-l1", SHRES, ("inpatient", "310000", 1, D), (("甲", 100000),),
         e(80, 76000, 0, 24000, ded=5000)),  # 50.00 deductible; 950.00 × 80 %
    # --- Beijing resident ---
    Case("bj-pharmacy-two-lines", BJ, ("pharmacy", "110000", None, D), (("甲", 10000), ("乙", 10000)),
         # line 1 fills the 100.00 deductible; line 2: 10.00 先行自付, 90.00 × 50 % = 45.00
         e(50, 4500, 0, 15500, ded=10000, pre=1000)),
    Case("bj-outpatient-l3-round-half-up", BJ, ("outpatient", "110000", 3, D), (("甲", 12345),),
         e(50, 6173, 0, 6172), ytd=YearToDate(10000, 0)),  # 123.45 × 50 % = 61.725 → 61.73
    Case("bj-in-shanghai-no-filing", BJ, ("outpatient", "310000", 2, D), (("甲", 10000),),
         e(30, 3000, 0, 7000, cross=True), ytd=YearToDate(10000, 0)),  # (50 − 20) %
    # --- Hangzhou resident / student ---
    Case("hz-pharmacy-preselfpay-rounds", HZ, ("pharmacy", "330100", None, D), (("乙", 333),),
         # 先行自付 3.33 × 10 % = 0.333 → 0.33; 3.00 × 50 % = 1.50
         e(50, 150, 0, 183, pre=33), ytd=YearToDate(30000, 0)),
    Case("hz-outpatient-l1-rounds", HZ, ("outpatient", "330100", 1, D), (("甲", 101),),
         e(60, 61, 0, 40), ytd=YearToDate(30000, 0)),  # 1.01 × 60 % = 0.606 → 0.61
    Case("hz-in-nanjing-no-filing", HZ, ("pharmacy", "320100", None, D), (("甲", 10000),),
         e(35, 3500, 0, 6500, cross=True), ytd=YearToDate(30000, 0)),  # (50 − 15) %
    Case("hz-elsewhere-in-zhejiang-is-local", HZ, ("pharmacy", "330200", None, D), (("甲", 10000),),
         e(50, 5000, 0, 5000), ytd=YearToDate(30000, 0)),  # same province: no filing needed
    Case("hzs-pharmacy", HZS, ("pharmacy", "330100", None, D), (("甲", 20000),),
         # 50.00 deductible left; 150.00 × 55 % = 82.50
         e(55, 8250, 0, 11750, ded=5000), ytd=YearToDate(5000, 0)),
    Case("hzs-inpatient-l3-with-selfpay", HZS, ("inpatient", "330100", 3, D), (("甲", 200000), ("丙", 10000)),
         # 800.00 deductible; 1,200.00 × 75 % = 900.00; 丙 100.00 self-paid
         e(75, 90000, 0, 120000, ded=80000, selfpay=10000)),
    # --- Chengdu employee (home policy of the 异地 demo holder) ---
    Case("cd-pharmacy-preselfpay-15", CD, ("pharmacy", "510100", None, D), (("乙", 10000),),
         # 15.00 先行自付; 85.00 × 60 % = 51.00; 49.00 from the account
         e(60, 5100, 4900, 0, pre=1500), ytd=YearToDate(20000, 0), balance=100000),
    Case("cd-account-does-not-pay-selfpay", CD, ("pharmacy", "510100", None, D), (("甲", 10000), ("丙", 10000)),
         e(60, 6000, 4000, 10000, selfpay=10000), ytd=YearToDate(20000, 0), balance=100000),
    Case("cd-retired-bonus", CD, ("pharmacy", "510100", None, D), (("甲", 10000),),
         e(65, 6500, 1000, 2500), ytd=YearToDate(20000, 0), balance=1000, retired=True),  # (60 + 5) %
    Case("cd-in-shanghai-filed", CD, ("pharmacy", "310000", None, D), (("甲", 10000),),
         e(60, 6000, 4000, 0, cross=True, filed=True), ytd=YearToDate(20000, 0), balance=100000,
         filing=FILING_SH),
    Case("cd-in-shanghai-district-filed", CD, ("outpatient", "310104", 2, D), (("甲", 10000),),
         e(60, 6000, 0, 4000, cross=True, filed=True), ytd=YearToDate(20000, 0), filing=FILING_SH),
    Case("cd-in-shanghai-no-filing", CD, ("pharmacy", "310000", None, D), (("甲", 10000),),
         e(45, 4500, 5500, 0, cross=True), ytd=YearToDate(20000, 0), balance=100000),  # (60 − 15) %
    Case("cd-in-shanghai-wrong-filing", CD, ("pharmacy", "310000", None, D), (("甲", 10000),),
         e(45, 4500, 0, 5500, cross=True), ytd=YearToDate(20000, 0), filing=FILING_GZ),
    Case("cd-in-guangzhou-filing-not-yet-valid", CD, ("pharmacy", "440100", None, D), (("甲", 10000),),
         e(45, 4500, 0, 5500, cross=True), ytd=YearToDate(20000, 0), filing=FILING_GZ),
    Case("cd-in-guangzhou-temporary-filing", CD, ("pharmacy", "440100", None, date(2025, 7, 1)), (("甲", 10000),),
         e(60, 6000, 0, 4000, cross=True, filed=True), ytd=YearToDate(20000, 0), filing=FILING_GZ),
    # --- Urumqi employee: refuses cross-province settlement without a filing ---
    Case("ur-pharmacy-local", UR, ("pharmacy", "650100", None, D), (("甲", 50000),),
         # 400.00 deductible; 100.00 × 55 % = 55.00; patient 445.00 = 300.00 account + 145.00 cash
         e(55, 5500, 30000, 14500, ded=40000), balance=30000),
    Case("ur-in-shanghai-no-filing-refused", UR, ("pharmacy", "310000", None, D), (("甲", 10000),),
         "跨省异地就医须先办理备案"),
    Case("ur-in-beijing-referral", UR, ("outpatient", "110000", 3, date(2024, 10, 10)), (("甲", 10000),),
         e(55, 5500, 0, 4500, cross=True, filed=True), ytd=YearToDate(40000, 0), filing=FILING_BJ),
    Case("ur-in-beijing-filing-expired-refused", UR, ("outpatient", "110000", 3, date(2025, 1, 2)),
         (("甲", 10000),), "refused by the home policy", filing=FILING_BJ),
    Case("ur-retired-inpatient-l1", UR, ("inpatient", "650100", 1, D), (("甲", 100000),),
         e(95, 66500, 0, 33500, ded=30000), retired=True),  # 700.00 × (90 + 5) %
    # --- Guangzhou resident: no outpatient deductible, 先行自付 5 % ---
    Case("gz-pharmacy-no-deductible", GZ, ("pharmacy", "440100", None, D), (("乙", 10000),),
         e(50, 4750, 0, 5250, pre=500)),  # 5.00 先行自付; 95.00 × 50 %
    Case("gz-outpatient-l1-cap", GZ, ("outpatient", "440100", 1, D), (("甲", 1000),),
         # 0.10 of cap left: 7.00 computed, 0.10 paid
         e(70, 10, 0, 990, over_cap=690), ytd=YearToDate(0, 149990), ytd_after=YearToDate(0, 150000)),
    Case("gz-per-line-rounding", GZ, ("pharmacy", "440100", None, D), (("甲", 1), ("甲", 1), ("甲", 3)),
         e(50, 4, 0, 1)),  # 0.5 → 1, 0.5 → 1, 1.5 → 2 fen: rounding is per line
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_settlement_table(case: Case) -> None:
    kind, region, level, on = case.visit
    kwargs = dict(visit=visit(kind, region, level, on), retired=case.retired, filing=case.filing,
                  use_account=case.use_account)
    policy = policies()[case.policy]
    if isinstance(case.expect, str):
        with pytest.raises(SettlementRefused, match=case.expect):
            settle(cart(*case.lines), policy, case.ytd, case.balance, **kwargs)
        return
    s = settle(cart(*case.lines), policy, case.ytd, case.balance, **kwargs)
    t = s.totals
    got = dict(ratio=s.ratio_percent, pooled=t.pooled_fen, account=t.account_fen, cash=t.cash_fen,
               ded=t.deductible_part_fen, pre=t.preselfpay_fen, selfpay=t.selfpay_fen, cross=s.cross_province,
               filed=s.filed, over_cap=t.over_cap_fen)
    assert got == case.expect
    assert t.pooled_fen + t.account_fen + t.cash_fen == sum(price for _, price in case.lines)
    assert s.account_balance_after_fen == case.balance - t.account_fen
    if case.ytd_after is not None:
        assert s.ytd_after == case.ytd_after


def test_table_is_big_enough_and_covers_every_policy_file() -> None:
    assert len(CASES) >= 30
    assert {c.policy for c in CASES} == set(policies())


def test_notes_explain_the_split() -> None:
    p = policies()
    s = settle(cart(("甲", 10000)), p[CD], YearToDate(20000, 0), 0, visit=visit("pharmacy", "310000"))
    assert s.notes == ("cross-province (跨省异地) without a filing (备案): ratio lowered by 15 points: "
                       "未办理跨省异地就医备案，报销比例降低15个百分点（示意）",)
    s = settle(cart(("甲", 1000)), p[GZ], YearToDate(0, 149990), 0, visit=visit("outpatient", "440100", 1))
    assert s.notes == ("annual pooled-fund cap reached: 690 fen more paid by the patient",
                       "this scheme has no personal account (个人账户): the patient's part is paid in cash",
                       "居民医保无个人账户；门诊统筹不设起付线（示意）。")
    s = settle(cart(("甲", 100)), p[CD], YearToDate(), 0, visit=visit("pharmacy", "310000"), filing=FILING_SH)
    assert s.notes == ("cross-province (跨省异地) with a filing (备案): home policy applies",)
