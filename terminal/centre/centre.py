"""The simulated insurance centre: one object that answers the platform's numbered transactions.

`Centre.handle(body) -> Answer` takes the request body of ``POST /fsi/api/rsfComIfsService/callService`` and
gives the answer body (the HTTP layer is `app.py`). For every request:

1. the envelope is checked without touching the database (JSON, infno known, msgid format and owner,
   inf_time, opter_type, regions, `input` an object); a `fail` fault answers −1 here;
2. one database transaction: the institution must be registered, a msgid already answered returns that
   first answer verbatim (the same request digest) or is refused (another request), a msgid reversed by 2601
   is refused, sign_no must be a live sign-in of the institution, the handler of the infno runs and its answer
   is stored with the msgid — all committed together; a handler's refusal rolls everything back and only the
   refusal is stored (a retry gets the same answer);
3. a `drop` fault then withholds the committed answer (a lost answer).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from terminal.clearing.db import Database
from terminal.identity.keys import ecard_public_key
from terminal.medical import Catalog, PolicyBook, RegionTable, load_catalog, load_policies, load_regions

from . import store
from .errors import Refused
from .faults import Faults
from .schema import ensure_schema
from .validation import REGION_RE, Fields
from .wire import INSTITUTION_RE, dumps, format_time, json_text, loads, msgid_problem, parse_time

log = logging.getLogger(__name__)

OPTER_TYPES = ("1", "2", "3")  # operator, self-service terminal, mobile
INF_TIME_TOLERANCE_S = 600


@dataclass(frozen=True)
class Answer:
    body: bytes
    infcode: int
    dropped: bool = False  # committed, but the answer is to be withheld (fault switch)
    replayed: bool = False  # the stored first answer of a retried msgid


@dataclass
class Call:
    """One request being answered: what the handlers get."""

    centre: Centre
    db: Database
    infno: str
    msgid: str
    envelope: dict[str, Any]
    institution: store.Institution
    input: Fields
    now: _dt.datetime

    @property
    def time_text(self) -> str:
        return format_time(self.now)

    @property
    def insuplc_admdvs(self) -> str:
        return str(self.envelope.get("insuplc_admdvs") or "")

    def new_id(self, prefix: str) -> str:
        """A fresh id: prefix ‖ yyyyMMddHHmmss ‖ 8 random digits."""
        return f"{prefix}{self.now.strftime('%Y%m%d%H%M%S')}{secrets.randbelow(10**8):08d}"


def digest_of(infno: str, fixmedins_code: str, input_: object) -> str:
    """What makes two requests with one msgid "the same request": infno, institution and input."""
    text = json.dumps([infno, fixmedins_code, input_], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Centre:
    """The centre over an open database. `clock` gives the centre's local time (naive); the fault switch
    `clock_skew_s` moves it."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], _dt.datetime] = _dt.datetime.now,
        policies: PolicyBook | None = None,
        catalog: Catalog | None = None,
        regions: RegionTable | None = None,
        faults: Faults | None = None,
        inf_time_tolerance_s: int = INF_TIME_TOLERANCE_S,
        code: str = "YKTCENTRE",
    ) -> None:
        from .transactions import TRANSACTIONS

        self.db = db
        self._clock = clock
        self.regions = regions or load_regions()
        self.policies = policies or load_policies(regions=self.regions)
        self.catalog = catalog or load_catalog()
        self.faults = faults or Faults()
        self.inf_time_tolerance_s = inf_time_tolerance_s
        self.transactions = TRANSACTIONS
        self.code = code
        self._ecard_key = ecard_public_key()
        self._seq = 0
        self._seq_lock = threading.Lock()
        self._synchronous = True  # Database.open sets synchronous=FULL

    @classmethod
    def open(cls, url: str | Path, *, seed: bool = True, **kwargs: Any) -> Centre:
        """Open (create) the centre database at `url` (SQLite path / sqlite:/// / postgresql://); with `seed`,
        an empty database gets the demo persons, institutions and operators of data/centre/."""
        db = Database.open(url, schema=ensure_schema)
        try:
            centre = cls(db, **kwargs)
            if seed and not db.scalar("SELECT COUNT(*) FROM institutions", default=0):
                from .seed import seed_demo

                seed_demo(centre)
            return centre
        except BaseException:
            db.close()
            raise

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Centre:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Centre({self.db!r})"

    # ---------------------------------------------------------------- clock and ids
    def now(self) -> _dt.datetime:
        return (self._clock() + _dt.timedelta(seconds=self.faults.clock_skew_s)).replace(microsecond=0)

    @property
    def ecard_key(self) -> Any:
        return self._ecard_key

    def _refmsgid(self, now: _dt.datetime) -> str:
        with self._seq_lock:
            self._seq = (self._seq + 1) % 10**6
            seq = self._seq
        return f"{self.code[:10]:<10}{now.strftime('%Y%m%d%H%M%S')}{seq:06d}"

    def _answer(self, infcode: int, received: _dt.datetime, output: object, err_msg: str = "") -> dict[str, Any]:
        now = self.now()
        return {"infcode": infcode, "inf_refmsgid": self._refmsgid(now), "refmsg_time": format_time(received),
                "respond_time": format_time(now), "err_msg": err_msg, "output": output if infcode == 0 else {}}

    # ---------------------------------------------------------------- the one entry point
    def handle(self, body: bytes | str) -> Answer:
        received = self.now()
        try:
            envelope = self._envelope(body, received)
        except Refused as exc:
            return Answer(dumps(self._answer(-1, received, {}, str(exc))), -1)
        infno, msgid, code = envelope["infno"], envelope["msgid"], envelope["fixmedins_code"]
        if self.faults.take_fail(infno):
            return Answer(dumps(self._answer(-1, received, {}, self.faults.fail_msg)), -1)
        digest = digest_of(infno, code, envelope["input"])
        try:
            answer = self._run(envelope, digest, received)
        except _Envelope as exc:
            answer = Answer(dumps(self._answer(-1, received, {}, str(exc))), -1)
        except Refused as exc:
            answer = self._store_refusal(envelope, digest, received, str(exc))
        if answer.infcode == 0 and self.faults.take_drop(infno):  # a replayed answer can be lost too
            log.info("fault: dropping the committed answer of %s %s", infno, msgid)
            return Answer(answer.body, answer.infcode, dropped=True)
        return answer

    def _envelope(self, body: bytes | str, now: _dt.datetime) -> dict[str, Any]:
        try:
            doc = loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise Refused(f"the request body is not JSON ({str(exc)[:80]})") from None
        if not isinstance(doc, dict):
            raise Refused("the request body must be a JSON object (the envelope)")
        env = Fields(doc, "")
        infno = doc.get("infno")
        if not isinstance(infno, str) or len(infno) != 4:
            raise Refused(f"infno must be a 4-character transaction code, got {json_text(infno)}")
        if infno not in self.transactions:
            raise Refused(f"unknown infno {infno}: this centre answers {', '.join(self.transactions)}")
        code = env.text("fixmedins_code", max_len=12)
        if not INSTITUTION_RE.match(code):
            raise Refused(f"fixmedins_code must be 12 upper-case letters/digits, got {json_text(code)}")
        problem = msgid_problem(doc.get("msgid"), code)
        if problem:
            raise Refused(problem)
        env.text("fixmedins_name", max_len=200)
        env.text("infver", max_len=10)
        env.text("opter_type", max_len=1, choices=OPTER_TYPES)
        env.text("opter", max_len=30)
        env.text("opter_name", max_len=50)
        for name in ("recer_sys_code", "dev_no", "cainfo", "signtype"):
            env.text(name, max_len=1000, required=False)
        env.text("mdtrtarea_admvs", max_len=6, pattern=REGION_RE, what="a 6-digit region code")
        env.text("insuplc_admdvs", max_len=6, pattern=REGION_RE, what="a 6-digit region code", required=False)
        if infno != "9001":
            env.text("sign_no", max_len=50, what="sign in with 9001 first")
        inf_time = env.text("inf_time", max_len=19)
        try:
            sent = parse_time(inf_time)
        except ValueError:
            raise Refused(f"inf_time must be yyyy-MM-dd HH:mm:ss, got {json_text(inf_time)}") from None
        off = abs((sent - now).total_seconds())
        if off > self.inf_time_tolerance_s:
            raise Refused(f"inf_time {inf_time} is {off:.0f} s away from the centre's clock {format_time(now)}"
                          f" (allowed {self.inf_time_tolerance_s} s): check the terminal's clock")
        if "input" not in doc:
            raise Refused("input is missing")
        if not isinstance(doc["input"], dict):
            raise Refused(f"input must be a JSON object, got {json_text(doc['input'])}")
        return doc

    def _durability(self, writes: bool) -> None:
        """A transaction that changes state commits durably (SQLite synchronous=FULL / PostgreSQL
        synchronous_commit on); one that only stores its answer (1101, 2101, …) does not wait for the disk — the
        next durable commit carries it there (a power cut may lose a read-only answer, never a settlement)."""
        if self.db.dialect == "sqlite":
            if self._synchronous != writes:
                self.db.execute("PRAGMA synchronous=FULL" if writes else "PRAGMA synchronous=NORMAL")
                self._synchronous = writes
        elif not writes:
            self.db.execute("SET LOCAL synchronous_commit = off")

    def _run(self, envelope: dict[str, Any], digest: str, received: _dt.datetime) -> Answer:
        infno, msgid, code = envelope["infno"], envelope["msgid"], envelope["fixmedins_code"]
        db = self.db
        writes = self.transactions[infno].writes
        if db.dialect == "sqlite":
            self._durability(writes)
        with db.transaction():
            if db.dialect == "postgres":
                self._durability(writes)
            institution = store.institution(db, code)
            if institution is None:
                raise _Envelope(f"fixmedins_code {code} is not a registered institution of this centre")
            if not institution.enabled:
                raise _Envelope(f"institution {code} is suspended at this centre")
            stored = self._stored(msgid, digest)
            if stored is not None:
                return stored
            reversed_by = db.scalar("SELECT msgid FROM reversals WHERE omsgid = ?", (msgid,))
            if reversed_by is not None:
                raise _Envelope(f"msgid {msgid} was reversed by 2601 ({reversed_by}) before it arrived: "
                                "it is not processed")
            if infno != "9001":
                self._check_sign(code, str(envelope.get("sign_no")))
            if envelope["mdtrtarea_admvs"] != institution.admvs:
                raise _Envelope(f"mdtrtarea_admvs {envelope['mdtrtarea_admvs']} is not the region "
                                f"{institution.admvs} of institution {code}")
            txn = self.transactions[infno]
            call = Call(self, db, infno, msgid, envelope, institution, Fields(envelope["input"], "input"), received)
            output = txn.run(call)
            doc = self._answer(0, received, output)
            body = dumps(doc)
            db.execute("INSERT INTO messages (msgid, infno, fixmedins_code, digest, infcode, response, created_at)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?)", (msgid, infno, code, digest, 0, body.decode("utf-8"),
                                                         call.time_text))
        return Answer(body, 0)

    def _stored(self, msgid: str, digest: str) -> Answer | None:
        row = self.db.one("SELECT digest, infcode, response, infno FROM messages WHERE msgid = ?", (msgid,))
        if row is None:
            return None
        if row[0] != digest:
            raise _Envelope(f"msgid {msgid} was already used for another request ({row[3]}): use a new msgid")
        return Answer(row[2].encode("utf-8"), int(row[1]), replayed=True)

    def _check_sign(self, code: str, sign_no: str) -> None:
        row = self.db.one("SELECT fixmedins_code, signout_time FROM signins WHERE sign_no = ?", (sign_no,))
        if row is None:
            raise _Envelope(f"sign_no {sign_no} is unknown: sign in with 9001 first")
        if row[0] != code:
            raise _Envelope(f"sign_no {sign_no} belongs to another institution")
        if row[1] is not None:
            raise _Envelope(f"sign_no {sign_no} was signed out (9002) at {row[1]}: sign in again")

    def _store_refusal(self, envelope: dict[str, Any], digest: str, received: _dt.datetime, message: str) -> Answer:
        doc = self._answer(-1, received, {}, message)
        body = dumps(doc)
        msgid = envelope["msgid"]
        try:
            with self.db.transaction():
                stored = self._stored(msgid, digest)
                if stored is not None:
                    return stored
                self.db.execute("INSERT INTO messages (msgid, infno, fixmedins_code, digest, infcode, response,"
                                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                (msgid, envelope["infno"], envelope["fixmedins_code"], digest, -1,
                                 body.decode("utf-8"), format_time(received)))
        except Refused as exc:
            return Answer(dumps(self._answer(-1, received, {}, str(exc))), -1)
        return Answer(body, -1)


class _Envelope(Refused):
    """A refusal about the envelope or the caller (not stored under the msgid: the caller may fix and retry)."""
