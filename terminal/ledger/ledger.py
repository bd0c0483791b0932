"""The terminal's book of record: a double-entry, hash-chained SQLite ledger (see docs/ledger.md).

Every method that records money runs in its own `BEGIN IMMEDIATE … COMMIT` with `synchronous=FULL`, so
after `kill -9` or power loss each call has either wholly happened or not at all.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

import sqlite_utils

from . import keyfile, rows, validate
from .accounts import NORMAL_SIGN
from .chain import ChainWriter, Mac
from .errors import (
    DuplicateTransaction,
    IntentAlreadyResolved,
    LedgerCorrupt,
    LedgerNotFound,
    NegativeBalance,
    PendingIntentExists,
    UnbalancedEntry,
    UnknownAccount,
    UnknownIntent,
)
from .model import Account, AccountBalance, DayReport, Intent, OutboxEntry, Posting, RecoveryOutcome, Resolution
from .model import Transaction, VerifyReport, check_fen
from .opening import append_account, check_meta, connect, immediate, initialise, read_meta, timestamp
from .upgrade import upgrade

log = logging.getLogger(__name__)

Clock = Callable[[], _dt.datetime]


def _utc_now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


class Ledger:
    """An open ledger. Use `Ledger.open(path, terminal_id=...)`; close it (or use it as a context manager)."""

    def __init__(self, conn: sqlite3.Connection, path: Path, mac: Mac, meta: dict[str, str], clock: Clock) -> None:
        self._conn = conn
        self._path = path
        self._mac = mac
        self._meta = meta
        self._terminal_id = meta["terminal_id"]
        self._clock = clock
        self._accounts: dict[str, tuple[str, bool]] = {}
        self._db: sqlite_utils.Database | None = None

    # ---------------------------------------------------------------- opening and closing
    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        terminal_id: str | None = None,
        create: bool = True,
        clock: Clock | None = None,
        on_sql: Callable[[str], None] | None = None,
    ) -> Ledger:
        """Open the ledger at `path`, creating it (and its `<db>.key`) if `create` and it does not exist.

        `terminal_id` is required to create; when given for an existing ledger it must match.
        `on_sql` sees every SQL statement before it runs (used by the crash harness).
        """
        path = Path(path)
        if terminal_id is not None:
            validate.terminal_id(terminal_id)
        kpath = keyfile.key_path(path)
        if not create and not path.exists():
            raise LedgerNotFound(f"no ledger at {path}; create it with `ykt ledger init --db {path}`")
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        conn = connect(path, create=create, on_sql=on_sql)
        try:
            meta = read_meta(conn)
            if not meta:
                if not create:
                    raise LedgerNotFound(f"{path} is not an initialised ledger; run `ykt ledger init --db {path}`")
                if terminal_id is None:
                    raise ValueError("terminal_id is required to create a ledger")
                mac = Mac(keyfile.create(kpath))
                meta = initialise(conn, mac, terminal_id, (clock or _utc_now)())
            else:
                mac = Mac(keyfile.load(kpath))
                meta = upgrade(conn, mac, meta, path)
            check_meta(meta, path, mac, terminal_id)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise LedgerCorrupt(f"{path} is not a usable ledger database: {exc}") from None
        except BaseException:
            conn.close()
            raise
        return cls(conn, path, mac, meta, clock or _utc_now)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Ledger({str(self._path)!r}, terminal_id={self._terminal_id!r})"

    @property
    def path(self) -> Path:
        return self._path

    @property
    def terminal_id(self) -> str:
        return self._terminal_id

    @property
    def conn(self) -> sqlite3.Connection:
        """The SQLite connection, for read-only queries and tests. Write only through the methods."""
        return self._conn

    @property
    def db(self) -> sqlite_utils.Database:
        """The same connection as a sqlite-utils Database (for queries, reports, exports)."""
        if self._db is None:
            self._db = sqlite_utils.Database(self._conn, recursive_triggers=False, execute_plugins=False)
        return self._db

    # ---------------------------------------------------------------- internals
    def _now(self) -> str:
        return timestamp(self._clock())

    @contextmanager
    def _write(self) -> Iterator[ChainWriter]:
        """One durable SQLite transaction with a chain writer; the head is stored just before COMMIT."""
        with immediate(self._conn):
            writer = ChainWriter(self._conn, self._mac, self._meta)
            yield writer
            if writer.appended:
                writer.store_head()

    def _account(self, code: str) -> tuple[str, bool]:
        if code not in self._accounts:
            row = self._conn.execute("SELECT type, may_go_negative FROM accounts WHERE code = ?", (code,)).fetchone()
            if row is None:
                raise UnknownAccount(f"no account {code!r} in the chart of accounts")
            self._accounts[code] = (row[0], bool(row[1]))
        return self._accounts[code]

    def _check_balances(self, deltas: dict[str, int], exclude_intent: str | None) -> None:
        """Refuse if an account that may not go negative would, counting pending intents' reservations."""
        risky = [a for a, d in deltas.items() if NORMAL_SIGN[self._account(a)[0]] * d < 0 and not self._account(a)[1]]
        if not risky:
            return
        reserved = dict.fromkeys(risky, 0)
        for intent_id, planned in self._conn.execute(
            "SELECT i.intent_id, i.planned_postings FROM open_intents o JOIN intents i ON i.intent_id = o.intent_id"
        ):
            if intent_id == exclude_intent:
                continue
            for posting in rows.postings_from_json(planned):
                if posting.account in reserved:
                    effect = NORMAL_SIGN[self._account(posting.account)[0]] * posting.amount_fen
                    reserved[posting.account] += min(effect, 0)
        for account in risky:
            balance = self._conn.execute("SELECT balance_fen FROM balances WHERE account = ?", (account,)).fetchone()[0]
            normal = NORMAL_SIGN[self._account(account)[0]] * (balance + deltas[account]) + reserved[account]
            if normal < 0:
                raise NegativeBalance(account, normal)

    def _booked(self, card_serial: str | None, card_counter: int | None, txn_type: int | None) -> int | None:
        if card_serial is None or card_counter is None or txn_type is None:
            return None
        row = self._conn.execute(
            "SELECT seq FROM transactions WHERE card_serial = ? AND card_counter = ? AND txn_type = ?",
            (card_serial, card_counter, txn_type),
        ).fetchone()
        return None if row is None else row[0]

    # ---------------------------------------------------------------- accounts
    def accounts(self) -> list[Account]:
        return [
            Account(code, name, typ, bool(neg))
            for code, name, typ, neg in self._conn.execute("SELECT code, name, type, may_go_negative FROM accounts ORDER BY seq")
        ]

    def add_account(self, code: str, name: str, type: str, *, may_go_negative: bool = False) -> Account:
        """Add an account to the chart (e.g. a new revenue category `revenue:optical`)."""
        account = Account(code, validate.text(name, "name", max_len=128), type, bool(may_go_negative))
        Posting(code, 1)  # validates the code
        if type not in NORMAL_SIGN:
            raise ValueError(f"account type must be one of {sorted(NORMAL_SIGN)}, not {type!r}")
        with self._write() as chain:
            if self._conn.execute("SELECT 1 FROM accounts WHERE code = ?", (code,)).fetchone():
                raise ValueError(f"account {code} already exists")
            append_account(self._conn, chain, account, self._now())
        return account

    def balances(self) -> dict[str, AccountBalance]:
        return {
            code: AccountBalance(code, typ, bool(neg), bal, NORMAL_SIGN[typ] * bal)
            for code, typ, neg, bal in self._conn.execute(
                "SELECT a.code, a.type, a.may_go_negative, b.balance_fen FROM accounts a"
                " JOIN balances b ON b.account = a.code ORDER BY a.seq"
            )
        }

    # ---------------------------------------------------------------- intents
    def begin_intent(
        self,
        *,
        kind: str,
        amount_fen: int,
        card_serial: str | None,
        operator: str,
        business_day: str,
        details: dict | None = None,
        postings: list[Posting] | tuple[Posting, ...] | None = None,
        card_counter: int | None = None,
        txn_type: int | None = None,
    ) -> Intent:
        """Record, durably, that a money movement is about to start. Call BEFORE the first money-moving APDU.

        `postings` are the planned journal entry (used by recovery to book a transaction found done on the
        card); `card_counter`/`txn_type` the card counter the transaction will use (purse: the counter read
        by INITIALIZE) — recovery compares it with the card's counter afterwards.
        """
        check_fen(amount_fen)
        if amount_fen < 0:
            raise ValueError(f"amount_fen must be >= 0, got {amount_fen}")
        serial = validate.card_serial(card_serial)
        counter = validate.opt_int(card_counter, "card_counter", 0, 0xFFFFFFFF)
        ttype = validate.opt_int(txn_type, "txn_type", 0, 0xFF)
        if counter is not None and (serial is None or ttype is None):
            raise ValueError("card_counter needs card_serial and txn_type")
        planned = validate.postings(postings) if postings is not None else ()
        values = {
            "intent_id": str(uuid.uuid4()),
            "kind": validate.kind(kind),
            "amount_fen": amount_fen,
            "card_serial": serial,
            "card_counter": counter,
            "txn_type": ttype,
            "operator": validate.text(operator, "operator"),
            "business_day": validate.business_day(business_day),
            "details": validate.details_json(details),
            "planned_postings": validate.postings_json(planned),
            "created_at": self._now(),
        }
        with self._write() as chain:
            deltas = _deltas(planned)
            for account in deltas:
                self._account(account)
            if serial is not None:
                row = self._conn.execute("SELECT intent_id FROM open_intents WHERE card_serial = ?", (serial,)).fetchone()
                if row is not None:
                    raise PendingIntentExists(serial, row[0])
            booked = self._booked(serial, counter, ttype)
            if booked is not None:
                raise DuplicateTransaction(serial, counter, ttype, booked)  # type: ignore[arg-type]
            self._check_balances(deltas, None)
            seq = chain.append("intents", values)
            self._conn.execute("INSERT INTO open_intents (intent_id, card_serial) VALUES (?, ?)", (values["intent_id"], serial))
        log.info("intent %s begun: %s %d fen card %s", values["intent_id"], kind, amount_fen, serial)
        return Intent(
            intent_id=values["intent_id"], seq=seq, kind=kind, amount_fen=amount_fen, card_serial=serial,
            card_counter=counter, txn_type=ttype, operator=operator, business_day=business_day,
            details=json.loads(values["details"]), planned_postings=planned, created_at=values["created_at"],
        )

    def commit_intent(
        self,
        intent_id: str,
        *,
        postings: list[Posting] | tuple[Posting, ...] | None = None,
        card_counter: int | None = None,
        txn_type: int | None = None,
        tac: str | None = None,
        terminal_seq: int | None = None,
        card_time: str | None = None,
    ) -> Transaction:
        """Book a pending intent as a transaction: journal entry, chain rows and outbox row in one commit.

        `postings` default to the intent's planned postings. Raises UnbalancedEntry (a ValueError) if they do
        not sum to zero, DuplicateTransaction if (card serial, counter, type) is already booked; writes
        nothing then. Committing again with the same data returns the existing transaction.
        """
        lines = validate.postings(postings) if postings is not None else None
        counter = validate.opt_int(card_counter, "card_counter", 0, 0xFFFFFFFF)
        ttype = validate.opt_int(txn_type, "txn_type", 0, 0xFF)
        tac_ = validate.tac(tac)
        tseq = validate.opt_int(terminal_seq, "terminal_seq", 0, 0xFFFFFFFF)
        ctime = validate.card_time(card_time)
        with self._write() as chain:
            intent = rows.load_open_intent(self._conn, intent_id)
            if intent is None:  # not pending: say why, or return the same commit made before
                return self._committed_already(intent_id, lines, counter, ttype, tac_, tseq, ctime)
            lines = lines if lines is not None else intent.planned_postings
            if not lines:
                raise UnbalancedEntry(f"intent {intent_id} has no planned postings; pass postings=")
            counter = _agree(intent.card_counter, counter, "card_counter")
            ttype = _agree(intent.txn_type, ttype, "txn_type")
            booked = self._booked(intent.card_serial, counter, ttype)
            if booked is not None:
                raise DuplicateTransaction(intent.card_serial, counter, ttype, booked)  # type: ignore[arg-type]
            deltas = _deltas(lines)
            self._check_balances(deltas, intent_id)
            now = self._now()
            txn_id = chain.append("transactions", {
                "intent_id": intent_id, "kind": intent.kind, "amount_fen": intent.amount_fen,
                "card_serial": intent.card_serial, "card_counter": counter, "txn_type": ttype, "tac": tac_,
                "terminal_seq": tseq, "card_time": ctime, "operator": intent.operator,
                "business_day": intent.business_day, "committed_at": now,
            })
            chain.append_many("postings", [
                {"txn_id": txn_id, "line": line, "account": p.account, "amount_fen": p.amount_fen}
                for line, p in enumerate(lines, 1)
            ])
            chain.append("outbox", {"txn_id": txn_id, "created_at": now})
            self._conn.executemany(
                "UPDATE balances SET balance_fen = balance_fen + ? WHERE account = ?", [(d, a) for a, d in deltas.items()]
            )
            self._conn.execute("DELETE FROM open_intents WHERE intent_id = ?", (intent_id,))
        log.info("intent %s committed as transaction %d", intent_id, txn_id)
        return Transaction(
            txn_id=txn_id, intent_id=intent_id, kind=intent.kind, amount_fen=intent.amount_fen,
            card_serial=intent.card_serial, card_counter=counter, txn_type=ttype, tac=tac_, terminal_seq=tseq,
            card_time=ctime, operator=intent.operator, business_day=intent.business_day, committed_at=now,
            postings=tuple(lines),
        )

    def _committed_already(self, intent_id: str, lines: tuple[Posting, ...] | None, *fields: object) -> Transaction:
        """`commit_intent` of an intent that is not pending: the transaction if it was committed with the same
        data (an idempotent retry), else UnknownIntent / IntentAlreadyResolved."""
        intent = rows.load_intent(self._conn, intent_id)
        if intent is None:
            raise UnknownIntent(f"no intent {intent_id}")
        if intent.state == "committed":
            existing = rows.load_transaction(self._conn, "seq = ?", (intent.txn_id,))
            if existing is not None and _same_commit(existing, lines, *fields):
                return existing
            raise IntentAlreadyResolved(f"intent {intent_id} is already committed as transaction {intent.txn_id} with other data")
        raise IntentAlreadyResolved(f"intent {intent_id} is {intent.state}: {intent.reason}")

    def fail_intent(self, intent_id: str, reason: str) -> Intent:
        """Mark a pending intent failed: the money movement did not happen (e.g. the card refused)."""
        return self._resolve(intent_id, "failed", reason)

    def cancel_intent(self, intent_id: str, reason: str = "cancelled by operator") -> Intent:
        """Mark a pending intent cancelled: abandoned before any money moved."""
        return self._resolve(intent_id, "cancelled", reason)

    def _resolve(self, intent_id: str, state: str, reason: str) -> Intent:
        validate.text(reason, "reason", max_len=256)
        with self._write() as chain:
            intent = rows.load_intent(self._conn, intent_id)
            if intent is None:
                raise UnknownIntent(f"no intent {intent_id}")
            if intent.state == state:
                return intent
            if intent.state != "pending":
                raise IntentAlreadyResolved(f"intent {intent_id} is already {intent.state}")
            chain.append("resolutions", {"intent_id": intent_id, "state": state, "reason": reason, "resolved_at": self._now()})
            self._conn.execute("DELETE FROM open_intents WHERE intent_id = ?", (intent_id,))
        log.info("intent %s %s: %s", intent_id, state, reason)
        return rows.load_intent(self._conn, intent_id)  # type: ignore[return-value]

    def get_intent(self, intent_id: str) -> Intent:
        intent = rows.load_intent(self._conn, intent_id)
        if intent is None:
            raise UnknownIntent(f"no intent {intent_id}")
        return intent

    def pending_intents(self) -> list[Intent]:
        """Intents neither committed, failed nor cancelled, oldest first."""
        return rows.load_pending(self._conn)

    def resolve_pending(self, resolver: Callable[[Intent], Resolution]) -> list[RecoveryOutcome]:
        """Ask `resolver` about every pending intent and commit / fail it; unknown ones stay pending."""
        from .recovery import resolve_pending

        return resolve_pending(self, resolver)

    # ---------------------------------------------------------------- transactions, outbox, checks
    def get_transaction(self, txn_id: int) -> Transaction:
        txn = rows.load_transaction(self._conn, "seq = ?", (txn_id,))
        if txn is None:
            raise LookupError(f"no transaction {txn_id}")
        return txn

    def find_transaction(self, card_serial: str, card_counter: int, txn_type: int) -> Transaction | None:
        """The transaction booked under a natural key, if any."""
        return rows.load_transaction(
            self._conn, "card_serial = ? AND card_counter = ? AND txn_type = ?",
            (validate.card_serial(card_serial), card_counter, txn_type),
        )

    def outbox(self, after_seq: int = 0, limit: int = 1000) -> list[OutboxEntry]:
        """Committed transactions in commit order, each once, after `after_seq` (for sync)."""
        return rows.load_outbox(self._conn, after_seq, limit)

    def checkpoint(self) -> int:
        """Copy the committed pages of the WAL into the database file now (a PASSIVE checkpoint: it never
        waits for other connections) and return how many WAL frames are still not copied (0: all are).

        SQLite otherwise does it inside the commit that fills the WAL to 1,000 pages (≈ 1 ms on the tap that
        pays for it); a validator calls this while no card is in the field."""
        _, frames, copied = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return max(0, frames - copied)

    def verify(self, *, quick: bool = False) -> VerifyReport:
        """integrity_check, chain, HMACs, head, double-entry sums and derived tables. See verify.py."""
        from .verify import verify_connection

        return verify_connection(self._conn, self._mac, quick=quick)

    def report(self, business_day: str) -> DayReport:
        from .report import day_report

        return day_report(self.db, validate.business_day(business_day))


# -------------------------------------------------------------------- module helpers
def _deltas(lines: tuple[Posting, ...]) -> dict[str, int]:
    deltas: dict[str, int] = {}
    for p in lines:
        deltas[p.account] = deltas.get(p.account, 0) + p.amount_fen
    return deltas


def _agree(planned: int | None, given: int | None, name: str) -> int | None:
    if planned is not None and given is not None and planned != given:
        raise ValueError(f"{name} {given} differs from the intent's {planned}")
    return given if given is not None else planned


def _same_commit(txn: Transaction, lines: tuple[Posting, ...] | None, *fields: object) -> bool:
    existing = (txn.card_counter, txn.txn_type, txn.tac, txn.terminal_seq, txn.card_time)
    if lines is not None and tuple(lines) != txn.postings:
        return False
    return all(given is None or given == have for given, have in zip(fields, existing))

