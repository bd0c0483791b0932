"""Refunds reverse exactly the original parts and restore the card's counters; partial refunds by line."""

from __future__ import annotations

import pytest

from terminal.medical import CartLine, RefundError, YearToDate, refund, settle

from .helpers import policies, visit, worked_example_policy


def _worked():
    cart = [CartLine("A", 1, 100_00, "甲"), CartLine("B", 1, 200_00, "乙"), CartLine("C", 1, 50_00, "丙")]
    return settle(cart, worked_example_policy(), YearToDate(400_00, 0), 150_00, visit=visit("pharmacy", "310000"))


def test_refund_everything() -> None:
    s = _worked()
    r = refund(s)
    assert (r.pooled_fen, r.account_fen, r.cash_fen) == (108_00, 150_00, 92_00)
    assert r.ytd_before == YearToDate(500_00, 108_00)
    assert r.ytd_after == YearToDate(400_00, 0)
    assert r.line_indexes == (0, 1, 2)


def test_partial_refund_of_line_b_keeps_the_other_lines_parts() -> None:
    s = _worked()
    r = refund(s, [1])
    assert (r.pooled_fen, r.account_fen, r.cash_fen) == (108_00, 50_00, 42_00)
    assert r.ytd_after == YearToDate(500_00, 0)  # B used none of the deductible
    r2 = refund(s, [0], ytd=r.ytd_after, already_refunded=[1])
    assert (r2.pooled_fen, r2.account_fen, r2.cash_fen) == (0, 100_00, 0)
    assert r2.ytd_after == YearToDate(400_00, 0)  # A's 100.00 of deductible comes back


def test_refund_against_later_counters() -> None:
    """Other settlements happened since: the refunded parts come off the card's current counters."""
    s = _worked()
    r = refund(s, ytd=YearToDate(900_00, 500_00))
    assert r.ytd_after == YearToDate(800_00, 392_00)


def test_inpatient_refund_restores_the_inpatient_counter_only() -> None:
    p = policies()["shanghai-employee-active"]
    s = settle([CartLine("X", 1, 1_000_000, "甲")], p, YearToDate(150000, 0, 0), 0,
               visit=visit("inpatient", "310000", 3))
    assert s.ytd_after == YearToDate(150000, 0, 722500)
    assert refund(s).ytd_after == YearToDate(150000, 0, 0)


@pytest.mark.parametrize(
    ("lines", "kwargs", "message"),
    [
        ([3], {}, "no line 3 in the settlement (it has 3)"),
        ([-1], {}, "no line -1 in the settlement (it has 3)"),
        ([True], {}, "no line True in the settlement (it has 3)"),
        ([1, 1], {}, "a line is named twice: [1, 1]"),
        ([1], {"already_refunded": [1]}, "line 1 was already refunded"),
        ([], {}, "nothing to refund: no lines given"),
        (None, {"already_refunded": [0, 1, 2]}, "nothing to refund: every line is already refunded"),
        (None, {"ytd": YearToDate(500_00, 100_00)},
         "the card's counters are below what this refund restores (pooled_paid_fen)"),
    ],
)
def test_refund_errors(lines, kwargs, message) -> None:
    with pytest.raises(RefundError) as err:
        refund(_worked(), lines, **kwargs)
    assert str(err.value) == message
