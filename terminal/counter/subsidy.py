"""Subsidy credit (补贴待遇进卡): a named subsidy from a batch file loaded onto the card's EP, each line at
most once.

Batch file (data/subsidy.example.csv)::

    # comments and blank lines are ignored
    batch,BT2025030001
    card_number,amount_fen,reason
    A00000001,5000,高温补贴 heat allowance

The batch id names the batch; its lines are numbered 1, 2, … in file order. The first import records the
file's SHA-256; the same id with other content is refused (a batch is immutable: a corrected batch gets a new
id). Importing books the programme's advance of the batch total (`subsidy_advance`: settlement receivable
against subsidy payable), once. Crediting a card loads each of its lines not yet credited (a load authorised
by the issuer's load host, purpose `subsidy`) and books `subsidy_load` (subsidy payable against purse float);
a line whose ledger intent is committed or pending is never loaded again.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from terminal.booking import Booked
from terminal.counter.errors import BadInput
from terminal.ledger import Posting

if TYPE_CHECKING:
    from terminal.counter.counter import Counter
    from terminal.identity import Identity
    from terminal.purse import PurseManager

ADVANCE_KIND = "subsidy_advance"
LOAD_KIND = "subsidy_load"
BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
CARD_NUMBER = re.compile(r"[A-Z0-9]{9}")
MAX_LINE_FEN = 1_000_000  # 10,000 yuan


@dataclass(frozen=True)
class SubsidyLine:
    line_no: int
    card_number: str
    amount_fen: int
    reason: str


@dataclass(frozen=True)
class Batch:
    batch_id: str
    sha256: str
    source: str
    lines: tuple[SubsidyLine, ...]

    @property
    def total_fen(self) -> int:
        return sum(line.amount_fen for line in self.lines)


@dataclass(frozen=True)
class Credit:
    """One line for the presented card: committed, failed (reason), pending, or skipped (already credited)."""

    line: SubsidyLine
    status: str
    booked: Booked | None = None

    @property
    def reason(self) -> str | None:
        if self.booked is None or self.status == "committed":
            return None
        return self.booked.result.reason or self.booked.intent.reason


def line_key(batch_id: str, line_no: int) -> str:
    return f"{batch_id}#{line_no}"


def parse_batch(data: bytes, source: str) -> Batch:
    """A batch file's lines; BadInput naming the file, the line and the problem (nothing is imported)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadInput(f"{source}: not UTF-8 text") from None
    numbered = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip() and not line.lstrip().startswith("#")]
    rows = list(csv.reader(io.StringIO("\n".join(line for _, line in numbered))))
    if len(rows) < 2 or len(rows[0]) != 2 or rows[0][0].strip() != "batch" or not BATCH_ID.fullmatch(rows[0][1].strip()):
        raise BadInput(f"{source}: the first line must be batch,ID (1-32 of A-Z a-z 0-9 _ -)")
    if [c.strip() for c in rows[1]] != ["card_number", "amount_fen", "reason"]:
        raise BadInput(f"{source}:{numbered[1][0]}: the header must be card_number,amount_fen,reason")
    lines: list[SubsidyLine] = []
    for line_no, ((number, _), row) in enumerate(zip(numbered[2:], rows[2:]), 1):
        if len(row) != 3:
            raise BadInput(f"{source}:{number}: expected card_number,amount_fen,reason")
        card, amount, reason = (c.strip() for c in row)
        if not CARD_NUMBER.fullmatch(card):
            raise BadInput(f"{source}:{number}: card number must be 9 letters/digits, got {card!r}")
        if not amount.isdigit() or not 0 < int(amount) <= MAX_LINE_FEN:
            raise BadInput(f"{source}:{number}: amount_fen must be a whole number of fen 1..{MAX_LINE_FEN}, got {amount!r}")
        if not reason or len(reason) > 64:
            raise BadInput(f"{source}:{number}: reason must be 1-64 characters")
        lines.append(SubsidyLine(line_no, card, int(amount), reason))
    if not lines:
        raise BadInput(f"{source}: the batch has no lines")
    return Batch(rows[0][1].strip(), hashlib.sha256(data).hexdigest(), source, tuple(lines))


def import_batch(ctx: Counter, path: Path) -> Batch:
    """Record the batch (once; the same id with other content is refused) and book its advance (once)."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise BadInput(f"{path}: cannot read ({e.strerror or e})") from None
    batch = parse_batch(data, str(path))
    operator = ctx.require_operator("a subsidy credit")
    with ctx.store.write() as conn:
        row = conn.execute("SELECT sha256 FROM counter_subsidy_batches WHERE batch_id = ?", (batch.batch_id,)).fetchone()
        if row is not None and row[0] != batch.sha256:
            raise BadInput(f"{path}: batch {batch.batch_id} was imported before with other content; a corrected "
                           "batch needs a new id")
        if row is None:
            conn.execute("INSERT INTO counter_subsidy_batches VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (batch.batch_id, batch.sha256, Path(path).name, len(batch.lines), batch.total_fen,
                          ctx.now().isoformat(timespec="seconds"), operator.operator_id))
            conn.executemany("INSERT INTO counter_subsidy_lines VALUES (?, ?, ?, ?, ?)",
                             [(batch.batch_id, x.line_no, x.card_number, x.amount_fen, x.reason) for x in batch.lines])
    if ctx.store.intent_state(ADVANCE_KIND, "batch", batch.batch_id)[0] != "committed":
        intent = ctx.ledger.begin_intent(
            kind=ADVANCE_KIND, amount_fen=batch.total_fen, card_serial=None, operator=operator.operator_id,
            business_day=ctx.business_day(), details={"batch": batch.batch_id, "lines": len(batch.lines)},
            postings=[Posting("settlement_receivable", batch.total_fen), Posting("subsidy_payable", -batch.total_fen)],
        )
        ctx.ledger.commit_intent(intent.intent_id)
    return batch


def open_lines(ctx: Counter, batch: Batch, card_number: str) -> list[tuple[SubsidyLine, str]]:
    """The card's lines with their state: committed / pending (taken) or void / failed (to credit)."""
    out = []
    for line in batch.lines:
        if line.card_number == card_number:
            state = ctx.store.intent_state(LOAD_KIND, "subsidy", line_key(batch.batch_id, line.line_no))[0]
            out.append((line, state))
    return out


def credit_card(ctx: Counter, batch: Batch, identity: Identity, manager: PurseManager) -> list[Credit]:
    """Load every line of `batch` for the card `identity` not credited yet; stops at the first line that is not
    committed (the card refused or went away). Lines already credited come back as "skipped", lines still
    pending at the card (after trying to resolve them) as "pending"."""
    ctx.require_operator("a subsidy credit")
    books = ctx.books(manager)
    books.resolve_pending()  # a line left pending by a lost answer is settled with the card first
    credits: list[Credit] = []
    stop = False
    for line, state in open_lines(ctx, batch, identity.card_number):
        if state in ("committed", "pending"):
            credits.append(Credit(line, "skipped" if state == "committed" else "pending"))
            continue
        if stop:
            continue
        booked = books.load(
            line.amount_fen, [Posting("subsidy_payable", line.amount_fen), Posting("purse_float", -line.amount_fen)],
            purse="ep", purpose="subsidy", kind=LOAD_KIND,
            details={"subsidy": line_key(batch.batch_id, line.line_no), "reason": line.reason},
        )
        credits.append(Credit(line, booked.status, booked))
        stop = booked.status != "committed"
    return credits
