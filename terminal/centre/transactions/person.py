"""1101 person information: who the credential names, how they are insured, and — yikatong's extension
block `ykt` — the centre's year-to-date counters, personal account and the card's offline allowance, so a
counter can reconcile the card (docs/centre.md)."""

from __future__ import annotations

from typing import Any

from .. import persons, store
from ..settling import ytd_wire
from ..wire import yuan_of


def person_info(call: Any) -> dict[str, Any]:
    f = call.input.obj("data")
    person = persons.by_credential(call, f)
    persons.check_person_fields(f, person)
    begntime = f.time("begntime", required=False)
    on = (begntime or call.now).date()
    acct = store.account(call.db, person.psn_no)
    insuinfo = {"balc": yuan_of(acct.balc_fen), "insutype": person.insutype, "psn_type": person.psn_type,
                "psn_insu_stas": person.psn_insu_stas, "cvlserv_flag": person.cvlserv_flag,
                "insuplc_admdvs": person.insuplc_admdvs, "emp_name": person.emp_name}
    ykt = {"year": on.year, "ytd": ytd_wire(acct.ytd(on.year)), "balc": yuan_of(acct.balc_fen),
           "allowance": yuan_of(acct.allowance_fen), "card_no": person.card_no or "",
           "scheme": person.scheme, "category": person.category, "retired": person.retired}
    return {"baseinfo": persons.baseinfo(person, on), "insuinfo": [insuinfo], "idetinfo": [], "ykt": ykt}
