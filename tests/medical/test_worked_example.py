"""shared/reference/medical.md's worked example, reproduced exactly."""

from __future__ import annotations

from terminal.medical import CartLine, YearToDate, settle

from .helpers import visit, worked_example_policy


def _settle():
    cart = [CartLine("A", 1, 100_00, "甲"), CartLine("B", 1, 200_00, "乙"), CartLine("C", 1, 50_00, "丙")]
    return settle(cart, worked_example_policy(), YearToDate(deductible_used_fen=400_00, pooled_paid_fen=0),
                  150_00, visit=visit("pharmacy", "310000"))


def test_worked_example_totals() -> None:
    s = _settle()
    t = s.totals
    assert (t.amount_fen, t.class_a_fen, t.class_b_fen, t.class_c_fen) == (350_00, 100_00, 200_00, 50_00)
    assert t.selfpay_fen == 50_00  # 自费 (丙类)
    assert t.preselfpay_fen == 20_00  # 先行自付: 10 % of B
    assert t.eligible_fen == 280_00  # 100.00 + 180.00
    assert t.deductible_part_fen == 100_00  # the deductible remaining
    assert t.pooled_fen == 108_00  # 180.00 × 60 %
    assert t.coinsurance_fen == 72_00
    assert t.patient_fen == 242_00  # 50 + 20 + 100 + 72
    assert (t.pooled_fen, t.account_fen, t.cash_fen) == (108_00, 150_00, 92_00)
    assert t.pooled_fen + t.account_fen + t.cash_fen == 350_00


def test_worked_example_counters_after() -> None:
    s = _settle()
    assert s.ytd_after == YearToDate(deductible_used_fen=500_00, pooled_paid_fen=108_00)
    assert s.account_balance_after_fen == 0
    assert s.ratio_percent == 60
    assert not s.cross_province


def test_worked_example_setlinfo() -> None:
    assert _settle().to_setlinfo() == {
        "medfee_sumamt": 35000, "fulamt_ownpay_amt": 5000, "overlmt_selfpay": 0, "preselfpay_amt": 2000,
        "inscp_scp_amt": 28000, "act_pay_dedc": 10000, "hifp_pay": 10800, "cvlserv_pay": 0, "hifmi_pay": 0,
        "maf_pay": 0, "fund_pay_sumamt": 10800, "psn_part_amt": 24200, "acct_pay": 15000, "acct_mulaid_pay": 0,
        "psn_cash_pay": 9200, "balc": 0,
    }


def test_worked_example_lines() -> None:
    a, b, c = _settle().lines
    assert (a.deductible_part_fen, a.pooled_fen, a.account_fen, a.cash_fen) == (100_00, 0, 100_00, 0)
    assert (b.preselfpay_fen, b.pooled_fen, b.coinsurance_fen, b.account_fen, b.cash_fen) == (
        20_00, 108_00, 72_00, 50_00, 42_00)
    assert (c.selfpay_fen, c.account_fen, c.cash_fen) == (50_00, 0, 50_00)
    assert [line.to_detail()["chrgitm_lv"] for line in (a, b, c)] == ["01", "02", "03"]
