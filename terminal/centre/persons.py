"""Who a request is about: the insured person named by a credential (1101) or by psn_no plus credential
(settlement transactions), with every mismatch refused precisely."""

from __future__ import annotations

import datetime as _dt

from terminal.identity import IdentityRefused
from terminal.identity.qr import decode_qr

from . import store
from .errors import Refused
from .validation import CERT_TYPES, Fields, cert
from .wire import json_text

INSU_STATUS = {"1": "normal (正常参保)", "2": "suspended (暂停参保)", "4": "terminated (终止参保)"}


def by_credential(call: object, f: Fields) -> store.Person:
    """The person of `mdtrt_cert_type` / `mdtrt_cert_no` (/ `card_sn`) in `f`."""
    kind, number, card_sn = cert(f)
    db = call.db  # type: ignore[attr-defined]
    if kind == "01":
        try:
            fields = decode_qr(number, call.centre.ecard_key)  # type: ignore[attr-defined]
        except IdentityRefused as exc:
            raise Refused(f"{f.path('mdtrt_cert_no')} is not a valid e-credential: {exc}") from None
        expires = fields.get("exp")
        now = call.now.timestamp()  # type: ignore[attr-defined]
        if not isinstance(expires, int) or expires < now:
            raise Refused(f"{f.path('mdtrt_cert_no')}: the e-credential has expired; scan a fresh code")
        person = store.person_by(db, "cert_sha", str(fields.get("sha")))
        if person is None:
            raise Refused(f"{f.path('mdtrt_cert_no')}: the e-credential's holder is not insured at this centre")
        return person
    if kind == "02":
        person = store.person_by(db, "certno", number)
        if person is None:
            raise Refused(f"no insured person with ID number {number[:6]}********{number[14:]}")
        return person
    person = store.person_by(db, "card_no", number)
    if person is None:
        raise Refused(f"no insured person with social security card {number}")
    if person.card_sn != card_sn:
        raise Refused(f"{f.path('card_sn')} {card_sn} is not the identification code of card {number}")
    return person


def check_person_fields(f: Fields, person: store.Person) -> None:
    """Optional psn_cert_type / certno / psn_name of 1101 must agree with the person."""
    if f.has("psn_cert_type"):
        f.text("psn_cert_type", max_len=2, choices=("01",))
    if f.has("certno") and f.text("certno", max_len=18) != person.certno:
        raise Refused(f"{f.path('certno')} does not match the person of {f.path('mdtrt_cert_no')}")
    if f.has("psn_name") and f.text("psn_name", max_len=50) != person.psn_name:
        raise Refused(f"{f.path('psn_name')} does not match the person of {f.path('mdtrt_cert_no')}")


def for_settlement(call: object, f: Fields, *, insutype: bool = True) -> store.Person:
    """psn_no of a settlement request, which the credential must name too; insured and of this region."""
    psn_no = f.text("psn_no", max_len=30)
    person = store.person(call.db, psn_no)  # type: ignore[attr-defined]
    if person is None:
        raise Refused(f"{f.path('psn_no')} {psn_no} is not an insured person of this centre")
    named = by_credential(call, f)
    if named.psn_no != person.psn_no:
        raise Refused(f"{f.path('mdtrt_cert_no')} ({CERT_TYPES[f.text('mdtrt_cert_type')]}) belongs to another "
                      f"person than psn_no {psn_no}")
    check_insured(call, f, person, insutype=insutype)
    return person


def check_insured(call: object, f: Fields, person: store.Person, *, insutype: bool = True) -> None:
    if person.psn_insu_stas != "1":
        status = INSU_STATUS.get(person.psn_insu_stas, person.psn_insu_stas)
        raise Refused(f"psn_no {person.psn_no} is not insured now: psn_insu_stas {person.psn_insu_stas} {status}")
    if insutype:
        given = f.text("insutype", max_len=6)
        if given != person.insutype:
            raise Refused(f"{f.path('insutype')} {json_text(given)} is not the insurance type {person.insutype} "
                          f"of psn_no {person.psn_no}")
    insuplc = call.insuplc_admdvs  # type: ignore[attr-defined]
    if insuplc != person.insuplc_admdvs:
        raise Refused(f"insuplc_admdvs {json_text(insuplc)} is not the insured region {person.insuplc_admdvs} of "
                      f"psn_no {person.psn_no} (from 1101)")


def baseinfo(person: store.Person, on: _dt.date) -> dict[str, object]:
    return {"psn_no": person.psn_no, "psn_cert_type": "01", "certno": person.masked_certno,
            "psn_name": person.psn_name, "gend": person.gend, "naty": person.naty, "brdy": person.brdy,
            "age": person.age(on)}
