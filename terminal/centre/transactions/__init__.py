"""The numbered transactions the centre answers, one small module per group (the INFNO → handler table).

| infno | module | what |
|---|---|---|
| 9001 / 9002 | `signin` | sign in / sign out an operator (sign_no) |
| 1101 | `person` | person information: baseinfo, insuinfo (and yikatong's `ykt` block: counters, account, allowance) |
| 2101 / 2102 / 2103 | `pharmacy` | pharmacy pre-settlement / settlement / settlement revoke |
| 2201 / 2203 / 2204 / 2205 | `clinic` | clinic: register, visit info, fee details, revoke fee details |
| 2206 / 2207 / 2208 | `clinic` | clinic pre-settlement / settlement / settlement revoke |
| 2601 | `reversal` | reversal of a transaction whose answer was lost |
| 3201 / 3202 | `reconcile` | day totals / detail reconciliation (对账) |
| Y201 / Y202 / Y301 | `offline` | yikatong extensions: offline settlement upload, offline refund upload, allowance load (圈存) |
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

REVERSIBLE = ("2102", "2103", "2207", "2208", "Y201", "Y202", "Y301")

from . import clinic, offline, person, pharmacy, reconcile, reversal, signin  # noqa: E402


@dataclass(frozen=True)
class Transaction:
    infno: str
    name: str
    run: Callable[[Any], dict[str, Any]]
    writes: bool = True  # changes state (False: only its answer is stored, committed without waiting for the disk)


READ_ONLY = ("1101", "2101", "2206", "3201", "3202")


TRANSACTIONS: dict[str, Transaction] = {t.infno: t for t in (
    Transaction("9001", "sign in (签到)", signin.sign_in),
    Transaction("9002", "sign out (签退)", signin.sign_out),
    Transaction("1101", "person information (人员信息获取)", person.person_info),
    Transaction("2101", "pharmacy pre-settlement (药店预结算)", pharmacy.pre_settle),
    Transaction("2102", "pharmacy settlement (药店结算)", pharmacy.settle),
    Transaction("2103", "pharmacy settlement revoke (药店结算撤销)", pharmacy.revoke),
    Transaction("2201", "clinic registration (门诊挂号)", clinic.register),
    Transaction("2203", "clinic visit information (门诊就诊信息上传)", clinic.visit_info),
    Transaction("2204", "clinic fee details upload (门诊费用明细上传)", clinic.upload_fees),
    Transaction("2205", "clinic fee details revoke (门诊费用明细撤销)", clinic.revoke_fees),
    Transaction("2206", "clinic pre-settlement (门诊预结算)", clinic.pre_settle),
    Transaction("2207", "clinic settlement (门诊结算)", clinic.settle),
    Transaction("2208", "clinic settlement revoke (门诊结算撤销)", clinic.revoke),
    Transaction("2601", "reversal (冲正交易)", reversal.reverse),
    Transaction("3201", "day totals reconciliation (对总账)", reconcile.totals),
    Transaction("3202", "detail reconciliation (对明细账)", reconcile.details),
    Transaction("Y201", "offline settlement upload (yikatong)", offline.upload_sale),
    Transaction("Y202", "offline refund upload (yikatong)", offline.upload_refund),
    Transaction("Y301", "allowance load 圈存 (yikatong)", offline.load_allowance),
)}
TRANSACTIONS = {k: Transaction(t.infno, t.name, t.run, k not in READ_ONLY) for k, t in TRANSACTIONS.items()}

__all__ = ["REVERSIBLE", "TRANSACTIONS", "Transaction"]
