"""Counter operators: login with operator id + password, roles cashier / supervisor.

Passwords are hashed with scrypt (`cryptography`), n = 2**14, r = 8, p = 1, a 16-byte random salt and a
32-byte hash, stored in the ledger database table `counter_operators` (docs/counter.md); the comparison is
constant-time. A password is never stored, logged or shown. After `MAX_FAILURES` wrong passwords in a row an
operator is disabled until a supervisor resets the password (`set_password`).
"""

from __future__ import annotations

import csv
import datetime as _dt
import hmac
import io
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from terminal.counter.errors import BadInput, LoginFailed, NotAuthorised
from terminal.counter.store import CounterStore

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MAX_FAILURES = 5
MIN_PASSWORD = 6
OPERATOR_ID = re.compile(r"[A-Za-z0-9_.-]{1,32}")
WRONG = "wrong operator id or password"


class Role(StrEnum):
    CASHIER = "cashier"  # sales, subsidy credits, identity checks
    SUPERVISOR = "supervisor"  # also refunds, day close, operator management


@dataclass(frozen=True)
class Operator:
    """A logged-in operator (no secret in it)."""

    operator_id: str
    name: str
    role: Role

    def require(self, role: Role, what: str) -> None:
        """Raise NotAuthorised unless this operator may do `what` (a supervisor may do everything)."""
        if role is Role.SUPERVISOR and self.role is not Role.SUPERVISOR:
            raise NotAuthorised(f"{what} needs a supervisor; {self.operator_id} is a {self.role.value}")

    def __str__(self) -> str:
        return f"{self.operator_id} ({self.role.value})"


def _hash(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(password.encode("utf-8"))


def _check_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD or len(password) > 128:
        raise BadInput(f"a password has {MIN_PASSWORD} to 128 characters")
    return password


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class OperatorStore:
    """The operator table of a counter store."""

    def __init__(self, store: CounterStore, *, scrypt_n: int = SCRYPT_N) -> None:
        self.store = store
        self.scrypt_n = scrypt_n

    def count(self) -> int:
        row = self.store.one("SELECT COUNT(*) FROM counter_operators")
        return int(row[0]) if row else 0

    def list(self) -> list[Operator]:
        return [Operator(r["operator_id"], r["name"], Role(r["role"]))
                for r in self.store.all("SELECT operator_id, name, role FROM counter_operators ORDER BY operator_id")]

    def add(self, operator_id: str, name: str, role: Role | str, password: str) -> Operator:
        """Add an operator; BadInput for a bad id, role or password, or an id already taken."""
        if not isinstance(operator_id, str) or not OPERATOR_ID.fullmatch(operator_id):
            raise BadInput(f"operator id {operator_id!r}: 1-32 of A-Z a-z 0-9 _ . -")
        if not isinstance(name, str) or not name.strip() or len(name) > 64:
            raise BadInput("operator name: 1-64 characters")
        try:
            role = Role(role)
        except ValueError:
            raise BadInput(f"role must be cashier or supervisor, got {role!r}") from None
        salt = secrets.token_bytes(16)
        digest = _hash(_check_password(password), salt, self.scrypt_n, SCRYPT_R, SCRYPT_P)
        with self.store.write() as conn:
            if conn.execute("SELECT 1 FROM counter_operators WHERE operator_id = ?", (operator_id,)).fetchone():
                raise BadInput(f"operator {operator_id} already exists")
            conn.execute(
                "INSERT INTO counter_operators (operator_id, name, role, salt, hash, scrypt_n, scrypt_r, scrypt_p,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (operator_id, name.strip(), role.value, salt.hex(), digest.hex(), self.scrypt_n, SCRYPT_R, SCRYPT_P,
                 _now()),
            )
        return Operator(operator_id, name.strip(), role)

    def set_password(self, operator_id: str, password: str) -> None:
        """A new password (also re-enables an operator disabled after wrong passwords)."""
        salt = secrets.token_bytes(16)
        digest = _hash(_check_password(password), salt, self.scrypt_n, SCRYPT_R, SCRYPT_P)
        with self.store.write() as conn:
            cur = conn.execute(
                "UPDATE counter_operators SET salt = ?, hash = ?, scrypt_n = ?, scrypt_r = ?, scrypt_p = ?,"
                " failures = 0, disabled = 0 WHERE operator_id = ?",
                (salt.hex(), digest.hex(), self.scrypt_n, SCRYPT_R, SCRYPT_P, operator_id),
            )
            if cur.rowcount != 1:
                raise BadInput(f"no operator {operator_id}")

    def login(self, operator_id: str, password: str) -> Operator:
        """The operator, if the password is right; LoginFailed otherwise (one message for a wrong id and a
        wrong password; the hash is computed either way)."""
        row = self.store.one("SELECT * FROM counter_operators WHERE operator_id = ?", (str(operator_id),))
        if row is None:
            _hash(str(password), b"\x00" * 16, self.scrypt_n, SCRYPT_R, SCRYPT_P)  # same time as a real check
            raise LoginFailed(WRONG)
        if row["disabled"]:
            raise LoginFailed(f"operator {operator_id} is disabled after {MAX_FAILURES} wrong passwords: a supervisor must set a new one")
        digest = _hash(str(password), bytes.fromhex(row["salt"]), row["scrypt_n"], row["scrypt_r"], row["scrypt_p"])
        if not hmac.compare_digest(digest, bytes.fromhex(row["hash"])):
            with self.store.write() as conn:
                conn.execute("UPDATE counter_operators SET failures = failures + 1,"
                             " disabled = (failures + 1 >= ?) WHERE operator_id = ?", (MAX_FAILURES, operator_id))
            raise LoginFailed(WRONG)
        if row["failures"]:
            with self.store.write() as conn:
                conn.execute("UPDATE counter_operators SET failures = 0 WHERE operator_id = ?", (operator_id,))
        return Operator(row["operator_id"], row["name"], Role(row["role"]))

    def import_csv(self, path: Path) -> int:
        """Add the operators of a CSV file `operator_id,name,role,password` (TEST passwords for demos); all or
        nothing. Operators already present are skipped. Returns how many were added."""
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except OSError as e:
            raise BadInput(f"{source}: cannot read ({e.strerror or e})") from None
        rows: list[tuple[int, dict[str, str]]] = []
        lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip() and not line.lstrip().startswith("#")]
        reader = csv.DictReader(io.StringIO("\n".join(line for _, line in lines)))
        if reader.fieldnames != ["operator_id", "name", "role", "password"]:
            raise BadInput(f"{source}: the header must be operator_id,name,role,password")
        for (number, _), row in zip(lines[1:], reader):
            if None in row or any(v is None for v in row.values()):
                raise BadInput(f"{source}:{number}: expected 4 fields")
            if not OPERATOR_ID.fullmatch(row["operator_id"]) or row["role"] not in {r.value for r in Role}:
                raise BadInput(f"{source}:{number}: bad operator id or role")
            if len(row["password"]) < MIN_PASSWORD:
                raise BadInput(f"{source}:{number}: the password is shorter than {MIN_PASSWORD} characters")
            rows.append((number, row))
        known = {op.operator_id for op in self.list()}
        added = 0
        for _, row in rows:
            if row["operator_id"] in known:
                continue
            self.add(row["operator_id"], row["name"], row["role"], row["password"])
            added += 1
        return added


def require_supervisor(operator: Operator | None, what: str) -> Operator:
    """The logged-in operator, if a supervisor; NotAuthorised otherwise."""
    if operator is None:
        raise NotAuthorised(f"{what} needs a logged-in supervisor")
    operator.require(Role.SUPERVISOR, what)
    return operator
