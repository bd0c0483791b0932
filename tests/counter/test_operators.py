"""Operators: scrypt-hashed passwords, one message for a wrong id or password, lock after repeated failures,
roles (refunds, day close and operator management need a supervisor), CSV import all or nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from terminal.counter import BadInput, LoginFailed, NotAuthorised, Role
from terminal.counter.operators import MAX_FAILURES, SCRYPT_N, OperatorStore
from tests.counter.helpers import DATA, PASSWORDS, Desk


def test_login_and_roles(desk: Desk) -> None:
    op = desk.counter.login("sup1", PASSWORDS["sup1"])
    assert op.role is Role.SUPERVISOR and str(op) == "sup1 (supervisor)"
    cashier = desk.counter.login("c001", PASSWORDS["c001"])
    with pytest.raises(NotAuthorised, match="a refund needs a supervisor; c001 is a cashier"):
        cashier.require(Role.SUPERVISOR, "a refund")
    cashier.require(Role.CASHIER, "a sale")
    desk.counter.logout()
    with pytest.raises(NotAuthorised, match="needs a logged-in operator"):
        desk.counter.require_operator("a sale")


def test_wrong_id_and_wrong_password_look_the_same(desk: Desk) -> None:
    with pytest.raises(LoginFailed) as a:
        desk.counter.login("nobody", "whatever-1")
    with pytest.raises(LoginFailed) as b:
        desk.counter.login("c001", "whatever-1")
    assert str(a.value) == str(b.value) == "wrong operator id or password"


def test_passwords_are_scrypt_hashes_never_text(desk: Desk) -> None:
    rows = desk.counter.store.all("SELECT * FROM counter_operators")
    dump = "\n".join(str(tuple(r)) for r in rows)
    assert all(p not in dump for p in PASSWORDS.values())
    assert {len(r["salt"]) for r in rows} == {32} and {len(r["hash"]) for r in rows} == {64}
    assert SCRYPT_N == 2**14  # the production cost (tests use a cheaper one)


def test_repeated_failures_disable_until_a_new_password(desk: Desk) -> None:
    for _ in range(MAX_FAILURES):
        with pytest.raises(LoginFailed):
            desk.counter.login("c001", "not-the-password")
    with pytest.raises(LoginFailed, match="disabled"):
        desk.counter.login("c001", PASSWORDS["c001"])
    desk.counter.operators.set_password("c001", "brand-new-1")
    assert desk.counter.login("c001", "brand-new-1").operator_id == "c001"


def test_a_success_resets_the_failure_count(desk: Desk) -> None:
    for _ in range(MAX_FAILURES - 1):
        with pytest.raises(LoginFailed):
            desk.counter.login("c001", "nope-nope")
    desk.counter.login("c001", PASSWORDS["c001"])
    with pytest.raises(LoginFailed, match="wrong"):
        desk.counter.login("c001", "nope-nope")
    desk.counter.login("c001", PASSWORDS["c001"])


@pytest.mark.parametrize("args,message", [
    (("bad id!", "x", "cashier", "secret-1"), "operator id"),
    (("ok", "x", "boss", "secret-1"), "role must be cashier or supervisor"),
    (("ok", "x", "cashier", "short"), "6 to 128 characters"),
    (("c001", "x", "cashier", "secret-1"), "already exists"),
])
def test_bad_operators_are_refused(desk: Desk, args: tuple, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        desk.counter.operators.add(*args)


def test_import_example_file_and_bad_files(desk: Desk, tmp_path: Path) -> None:
    store = OperatorStore(desk.counter.store, scrypt_n=2**8)
    assert store.import_csv(DATA / "operators.example.csv") == 0  # sup1 and c001 are there: kept as they are
    assert desk.counter.login("sup1", PASSWORDS["sup1"]).role is Role.SUPERVISOR
    bad = tmp_path / "ops.csv"
    bad.write_text("operator_id,name,role,password\nx1,X,cashier,longenough\nx2,Y,boss,longenough\n", encoding="utf-8")
    with pytest.raises(BadInput, match=r"ops.csv:3: bad operator id or role"):
        store.import_csv(bad)
    assert "x1" not in {o.operator_id for o in store.list()}
