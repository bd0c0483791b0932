"""The centre's contract: recorded request/response pairs (tests/centre/contract/*.json) and how they are made
and replayed over HTTP.

A scenario is a list of steps; each step is one request envelope and the answer the centre gave. Values the
centre makes up (sign_no, setl_id, mdtrt_id, …) are recorded as placeholders `{{sign_no_1}}`: the first time a
placeholder appears in an answer it captures the value, later requests use it and later answers must repeat
it. `{{*}}` matches anything (inf_refmsgid). Times are exact: the centre runs on a fixed clock (2025-03-01
10:00:00) in the tests.

Record again after an intended change of an answer: `YKT_CENTRE_RECORD=1 python -m pytest
tests/centre/test_contract.py -k sqlite` — then read the diff of the JSON files.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from terminal.centre import wire

HERE = Path(__file__).resolve().parent / "contract"
NOW = dt.datetime(2025, 3, 1, 10, 0, 0)
PHARMACY, CLINIC = "P31000000001", "H31000000001"
VOLATILE = ("sign_no", "setl_id", "mdtrt_id", "orig_setl_id")
WILD = ("inf_refmsgid",)
_PLACEHOLDER = re.compile(r"^\{\{([a-z_0-9*]+)\}\}$")

ZW = {"psn_no": "31000019800315000001", "card": "A00000001", "sn": "310000D1560000053100000000000001",
      "certno": "31010519800315001X", "insuplc": "310000", "insutype": "310"}
ZM = {"psn_no": "51010019880203000005", "card": "A00000005", "sn": "510100D1560000055101000000000005",
      "certno": "510104198802030103", "insuplc": "510100", "insutype": "310"}
AY = {"psn_no": "65010019900611000006", "card": "A00000006", "sn": "650100D1560000056501000000000006",
      "certno": "650102199006110121", "insuplc": "650100", "insutype": "310"}
LN = {"psn_no": "11000019920708000002", "card": "A00000002", "sn": "110000D1560000051100000000000002",
      "certno": "110105199207080049", "insuplc": "110000", "insutype": "390"}
LY = {"psn_no": "44010019751130000007", "card": "A00000007", "sn": "440100D1560000054401000000000007",
      "certno": "440106197511300134", "insuplc": "440100", "insutype": "390"}
A, B, C = ("XJ01CAA040A001", 1250), ("XJ01DDT080A001", 2680), ("XA11GAW020A001", 3580)


# ---------------------------------------------------------------- JSON with exact decimals
def dump(doc: Any) -> str:
    return wire.dumps(doc, indent=1).decode("utf-8") + "\n"


def load(path: Path) -> Any:
    return wire.loads(path.read_text(encoding="utf-8"))


# ---------------------------------------------------------------- building requests
class Builder:
    """Envelopes of one institution with msgids 1, 2, 3, … at the fixed time."""

    def __init__(self, code: str = PHARMACY, admvs: str = "310000", start: int = 1) -> None:
        self.code, self.admvs, self.seq = code, admvs, start - 1

    def msgid(self) -> str:
        self.seq += 1
        return wire.make_msgid(self.code, NOW, self.seq)

    def env(self, infno: str, input_: dict[str, Any], *, insuplc: str = "", sign: str = "{{sign_no_1}}",
            msgid: str | None = None) -> dict[str, Any]:
        return wire.request(infno, msgid or self.msgid(), input_, fixmedins_code=self.code,
                            fixmedins_name="yikatong contract test", mdtrtarea_admvs=self.admvs,
                            insuplc_admdvs=insuplc, sign_no="" if infno == "9001" else sign, opter="c001",
                            opter_name="李收银", inf_time=wire.format_time(NOW))


def cert(p: dict[str, str]) -> dict[str, str]:
    return {"mdtrt_cert_type": "03", "mdtrt_cert_no": p["card"], "card_sn": p["sn"]}


def lines(*items: tuple[tuple[str, int], int]) -> list[dict[str, Any]]:
    out = []
    for i, ((code, price), cnt) in enumerate(items, 1):
        out.append({"feedetl_sn": str(i), "med_list_codg": code, "cnt": cnt, "pric": wire.yuan_of(price),
                    "det_item_fee_sumamt": wire.yuan_of(price * cnt)})
    return out


def drug_input(p: dict[str, str], items: list[dict[str, Any]], *, acct: str = "1") -> dict[str, Any]:
    total = sum(wire.fen_of(line["det_item_fee_sumamt"], "x") for line in items)
    return {"druginfo": {"psn_no": p["psn_no"], **cert(p), "med_type": "41", "medfee_sumamt": wire.yuan_of(total),
                         "insutype": p["insutype"], "acct_used_flag": acct}, "drugdetail": items}


# ---------------------------------------------------------------- placeholders
def substitute(value: Any, captured: dict[str, Any]) -> Any:
    if isinstance(value, str):
        m = _PLACEHOLDER.match(value)
        if m and m.group(1) in captured:
            return captured[m.group(1)]
        return value
    if isinstance(value, dict):
        return {k: substitute(v, captured) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, captured) for v in value]
    return value


def templatize(value: Any, names: dict[str, str], counts: dict[str, int], key: str = "") -> Any:
    """A recorded answer: volatile values become placeholders (named in order of first appearance)."""
    if isinstance(value, dict):
        return {k: templatize(v, names, counts, k) for k, v in value.items()}
    if isinstance(value, list):
        return [templatize(v, names, counts, key) for v in value]
    if isinstance(value, str) and value:
        if key in WILD:
            return "{{*}}"
        if value in names:
            return "{{" + names[value] + "}}"
        if key in VOLATILE:
            base = "setl_id" if key == "orig_setl_id" else key
            counts[base] = counts.get(base, 0) + 1
            names[value] = f"{base}_{counts[base]}"
            return "{{" + names[value] + "}}"
        for known, name in names.items():  # an id inside a message
            if known in value:
                value = value.replace(known, "{{" + name + "}}")
    return value


def match(template: Any, actual: Any, captured: dict[str, Any], where: str = "") -> list[str]:
    """Differences between a recorded answer and an actual one (capturing placeholders)."""
    if isinstance(template, str):
        m = _PLACEHOLDER.match(template)
        if m:
            name = m.group(1)
            if name == "*":
                return []
            if name in captured:
                return [] if captured[name] == actual else [f"{where}: {actual!r} != {name} {captured[name]!r}"]
            captured[name] = actual
            return []
        if "{{" in template and isinstance(actual, str):  # ids inside a message
            pattern = "".join(re.escape(captured.get(part, "")) if i % 2 else re.escape(part)
                              for i, part in enumerate(re.split(r"\{\{([a-z_0-9]+)\}\}", template)))
            return [] if re.fullmatch(pattern, actual) else [f"{where}: {actual!r} != recorded {template!r}"]
    if isinstance(template, dict) and isinstance(actual, dict):
        if set(template) != set(actual):
            return [f"{where}: keys {sorted(set(template) ^ set(actual))} differ"]
        return [d for k in template for d in match(template[k], actual[k], captured, f"{where}.{k}")]
    if isinstance(template, list) and isinstance(actual, list):
        if len(template) != len(actual):
            return [f"{where}: {len(actual)} items, recorded {len(template)}"]
        return [d for i, (t, a) in enumerate(zip(template, actual)) for d in match(t, a, captured, f"{where}[{i}]")]
    if isinstance(template, Decimal) or isinstance(actual, Decimal):
        return [] if str(template) == str(actual) else [f"{where}: {actual} != recorded {template}"]
    if type(template) is not type(actual) or template != actual:
        return [f"{where}: {actual!r} != recorded {template!r}"]
    return []


Post = Callable[[dict[str, Any]], dict[str, Any]]


def record(steps: list[dict[str, Any]], post: Post) -> list[dict[str, Any]]:
    """Run `steps` (requests with placeholders) and return the recorded pairs."""
    captured: dict[str, Any] = {}
    names: dict[str, str] = {}
    counts: dict[str, int] = {}
    pairs = []
    answers: list[dict[str, Any]] = []
    for step in steps:
        spec = step["request"]
        if callable(spec):  # built from earlier answers: recorded with their placeholders
            spec = _known(spec(answers), names)
        request = substitute(spec, captured)
        answer = post(request)
        answers.append(answer)
        recorded = templatize(answer, names, counts)
        match(recorded, answer, captured)  # learn the new placeholders
        pairs.append({"note": step["note"], "request": spec, "response": recorded})
    return pairs


def _known(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return "{{" + names[value] + "}}" if value in names else value
    if isinstance(value, dict):
        return {k: _known(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_known(v, names) for v in value]
    return value


def replay(pairs: list[dict[str, Any]], post: Post) -> list[str]:
    captured: dict[str, Any] = {}
    problems = []
    for i, pair in enumerate(pairs):
        answer = post(substitute(pair["request"], captured))
        problems += [f"step {i} ({pair['note']}){d}" for d in match(pair["response"], answer, captured)]
    return problems
