"""2101 / 2102 / 2103: the pharmacy purchase (med_type 41). Input `druginfo` (psn_no, credential, med_type,
medfee_sumamt, insutype, acct_used_flag) and `drugdetail[]` (feedetl_sn, med_list_codg, cnt, pric,
det_item_fee_sumamt); output setlinfo / setldetail / detlcutinfo / ykt. 2101 writes nothing; 2102 debits the
personal account held at the centre and moves the year-to-date counters; 2103 revokes (`data`: setl_id,
psn_no, optional ykt_lines)."""

from __future__ import annotations

from typing import Any

from .. import persons, settling
from .revoke import revoke as revoke_settlement


def _settle(call: Any, *, commit: bool) -> dict[str, Any]:
    d = call.input.obj("druginfo")
    items = call.input.items("drugdetail")
    person = persons.for_settlement(call, d)
    med_type = settling.med_type_of(call, d, ("41",))
    use_account = d.flag("acct_used_flag") == "1"
    lines = settling.read_lines(call, items)
    settling.check_total(d, lines)
    return settling.settle_online(call, person, lines, med_type, use_account=use_account, commit=commit)


def pre_settle(call: Any) -> dict[str, Any]:
    return _settle(call, commit=False)


def settle(call: Any) -> dict[str, Any]:
    return _settle(call, commit=True)


def revoke(call: Any) -> dict[str, Any]:
    return revoke_settlement(call, call.input.obj("data"), ("2102", "Y201"))
