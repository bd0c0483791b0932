"""The scenarios whose request/response pairs are recorded in tests/centre/contract/ — every transaction the
centre answers, in the order a counter system sends them (medical-platform.md "Counter sequences")."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from terminal.centre import wire
from terminal.issuer import load_profile
from terminal.datafiles import data_dir
from terminal.identity.qr import issue_qr
from terminal.medical import CartLine, Visit, VisitType, YearToDate, load_policies, settle

from .contract import A, AY, B, C, CLINIC, LN, LY, NOW, ZM, ZW, Builder, cert, drug_input, lines

Step = dict[str, Any]


def step(note: str, request: Any) -> Step:
    return {"note": note, "request": request}


def sign_in(b: Builder) -> Step:
    return step("9001 sign in", b.env("9001", {"signIn": {"opter_no": "c001", "mac": "02:00:00:00:00:01",
                                                          "ip": "127.0.0.1"}}))


def sign_out(b: Builder, sign: str = "{{sign_no_1}}") -> Step:
    return step("9002 sign out", b.env("9002", {"signOut": {"sign_no": sign, "opter_no": "c001"}}, sign=sign))


def person(b: Builder, p: dict[str, str], note: str, **extra: Any) -> Step:
    return step(note, b.env("1101", {"data": {**cert(p), "begntime": wire.format_time(NOW), **extra}}))


def qr_token() -> str:
    """zhang-wei's e-credential (yikatong's signed QR), issued at the fixed time with a fixed nonce."""
    profile = load_profile(data_dir() / "cards" / "zhang-wei.toml")
    return issue_qr(profile, NOW.astimezone(), nonce="contract-test-nonce")


def _money(answer: dict[str, Any], name: str) -> int:
    return wire.fen_of(answer["output"]["setlinfo"][name], name)


def signin_and_person() -> list[Step]:
    b = Builder(start=1)
    return [
        sign_in(b),
        person(b, ZW, "1101 by social security card (03)"),
        step("1101 by ID number (02)", b.env("1101", {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": ZW["certno"],
                                                              "psn_name": "张伟"}})),
        step("1101 by e-credential (01: yikatong's signed QR)",
             b.env("1101", {"data": {"mdtrt_cert_type": "01", "mdtrt_cert_no": qr_token()}})),
        person(b, ZM, "1101 cross-province holder (insured in Chengdu)"),
        person(b, LY, "1101 suspended insurance (psn_insu_stas 2)"),
        sign_out(b),
        person(b, ZW, "1101 after sign-out: refused"),
    ]


def pharmacy() -> list[Step]:
    b = Builder(start=101)
    sale = drug_input(ZW, lines((A, 2), (B, 1), (C, 1)))
    settle_msgid = b.msgid()
    lost = wire.make_msgid(b.code, NOW, 190)
    small = drug_input(ZW, lines((A, 1)))

    def totals(answers: list[dict[str, Any]]) -> dict[str, Any]:
        # the sale of step 4 was revoked (steps 6, 7), the one of step 9 reversed: zhao-min's remains (step 14)
        zm = answers[13]
        return b.env("3201", {"data": {"insutype": "310", "clr_type": "41", "setl_optins": "310000",
                                       "stmt_begndate": "2025-03-01", "stmt_enddate": "2025-03-01",
                                       "medfee_sumamt": wire.yuan_of(_money(zm, "medfee_sumamt")),
                                       "fund_pay_sumamt": wire.yuan_of(_money(zm, "fund_pay_sumamt")),
                                       "acct_pay": wire.yuan_of(_money(zm, "acct_pay")), "fixmedins_setl_cnt": 4}})

    def wrong_totals(answers: list[dict[str, Any]]) -> dict[str, Any]:
        request = totals(answers)
        request["msgid"] = b.msgid()
        request["input"]["data"]["medfee_sumamt"] += Decimal("1.00")
        request["input"]["data"]["fixmedins_setl_cnt"] = 5
        return request

    def details(answers: list[dict[str, Any]]) -> dict[str, Any]:
        sold = answers[3]["output"]["setlinfo"]
        zm = answers[13]["output"]["setlinfo"]
        detail = [
            {"setl_id": sold["setl_id"], "medfee_sumamt": sold["medfee_sumamt"], "fund_pay_sumamt": sold["fund_pay_sumamt"],
             "acct_pay": sold["acct_pay"], "refd_setl_flag": "0"},
            {"setl_id": zm["setl_id"], "medfee_sumamt": zm["medfee_sumamt"] + Decimal("0.01"),
             "fund_pay_sumamt": zm["fund_pay_sumamt"], "acct_pay": zm["acct_pay"], "refd_setl_flag": "0"},
            {"setl_id": "S20250301000000UNKNOWN", "medfee_sumamt": Decimal("1.00"), "fund_pay_sumamt": Decimal("0.00"),
             "acct_pay": Decimal("0.00"), "refd_setl_flag": "0"},
        ]
        return b.env("3202", {"data": {"setl_optins": "310000", "stmt_begndate": "2025-03-01",
                                       "stmt_enddate": "2025-03-01", "detail": detail}})

    def reverse_last(answers: list[dict[str, Any]]) -> dict[str, Any]:
        return b.env("2601", {"data": {"omsgid": small_msgid, "oinfno": "2102", "psn_no": ZW["psn_no"]}})

    small_msgid = wire.make_msgid(b.code, NOW, 150)
    return [
        sign_in(b),
        person(b, ZW, "1101 the holder"),
        step("2101 pre-settlement: 甲 ×2, 乙, 丙", b.env("2101", sale, insuplc="310000")),
        step("2102 settlement", b.env("2102", sale, insuplc="310000", msgid=settle_msgid)),
        step("2102 resent with the same msgid: the first answer", b.env("2102", sale, insuplc="310000",
                                                                         msgid=settle_msgid)),
        step("2103 revoke line 3 (the 丙 line) only: yikatong's ykt_lines",
             b.env("2103", {"data": {"setl_id": "{{setl_id_1}}", "psn_no": ZW["psn_no"], "ykt_lines": ["3"]}},
                   insuplc="310000")),
        step("2103 revoke the rest", b.env("2103", {"data": {"setl_id": "{{setl_id_1}}", "psn_no": ZW["psn_no"]}},
                                           insuplc="310000")),
        step("2103 again: already revoked", b.env("2103", {"data": {"setl_id": "{{setl_id_1}}",
                                                                    "psn_no": ZW["psn_no"]}}, insuplc="310000")),
        step("2102 another sale", b.env("2102", small, insuplc="310000", msgid=small_msgid)),
        step("2601 reverses it (its answer was lost)", reverse_last),
        step("2601 of a msgid that never arrived", b.env("2601", {"data": {"omsgid": lost, "oinfno": "2102"}})),
        step("the lost 2102 arrives late: refused", b.env("2102", small, insuplc="310000", msgid=lost)),
        step("2102 resident without personal account, insured in Beijing (cross-province, no filing)",
             b.env("2102", drug_input(LN, lines((A, 1), (B, 1))), insuplc="110000")),
        step("2102 cross-province with a filing (备案)", b.env("2102", drug_input(ZM, lines((A, 2), (B, 1))),
                                                              insuplc="510100")),
        step("2102 cross-province without filing under a 'refuse' policy",
             b.env("2102", drug_input(AY, lines((A, 1))), insuplc="650100")),
        step("3201 day totals (employee, pharmacy): balanced", totals),
        step("3201 with other totals: not balanced, with the difference", wrong_totals),
        step("3202 detail: one amount differs, one unknown, one missing", details),
        sign_out(b),
    ]


def clinic() -> list[Step]:
    b = Builder(CLINIC, start=201)
    common = {"psn_no": ZW["psn_no"], **cert(ZW), "insutype": "310"}

    def fees(batch: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        return {"feedetail": [{**line, "mdtrt_id": "{{mdtrt_id_1}}", "psn_no": ZW["psn_no"], "chrg_bchno": batch,
                               "fee_ocur_time": wire.format_time(NOW)} for line in items]}

    settle_data = {"data": {**common, "mdtrt_id": "{{mdtrt_id_1}}", "chrg_bchno": "B2", "med_type": "11",
                            "medfee_sumamt": Decimal("60.80"), "psn_setlway": "01", "acct_used_flag": "1"}}
    revoke_msgid = wire.make_msgid(b.code, NOW, 250)
    return [
        sign_in(b),
        person(b, ZW, "1101 the patient"),
        step("2201 register", b.env("2201", {"data": {**common, "begntime": wire.format_time(NOW),
                                                      "ipt_otp_no": "OTP0001", "dept_code": "A01", "dept_name": "内科",
                                                      "atddr_no": "D001", "dr_name": "赵医生"}}, insuplc="310000")),
        step("2203 visit information: ordinary outpatient (11)",
             b.env("2203", {"mdtrtinfo": {"mdtrt_id": "{{mdtrt_id_1}}", "psn_no": ZW["psn_no"], "med_type": "11",
                                          "begntime": wire.format_time(NOW), "main_cond_dscr": "咳嗽"},
                            "diseinfo": [{"diag_type": "1", "diag_code": "J06.900", "diag_name": "急性上呼吸道感染"}]},
                   insuplc="310000")),
        step("2204 fee details, batch B1", b.env("2204", fees("B1", lines((A, 1), (B, 1))), insuplc="310000")),
        step("2205 revoke batch B1", b.env("2205", {"data": {"mdtrt_id": "{{mdtrt_id_1}}", "chrg_bchno": "B1",
                                                             "psn_no": ZW["psn_no"]}}, insuplc="310000")),
        step("2204 fee details, batch B2", b.env("2204", fees("B2", lines((A, 2), (C, 1))), insuplc="310000")),
        step("2206 pre-settlement", b.env("2206", settle_data, insuplc="310000")),
        step("2207 settlement", b.env("2207", settle_data, insuplc="310000")),
        step("2208 revoke", b.env("2208", {"data": {"setl_id": "{{setl_id_1}}", "mdtrt_id": "{{mdtrt_id_1}}",
                                                    "psn_no": ZW["psn_no"]}}, insuplc="310000", msgid=revoke_msgid)),
        step("2601 of the 2208: the settlement stands again",
             b.env("2601", {"data": {"omsgid": revoke_msgid, "oinfno": "2208"}})),
        step("3201 (employee, outpatient): balanced",
             b.env("3201", {"data": {"insutype": "310", "clr_type": "11", "stmt_begndate": "2025-03-01",
                                     "stmt_enddate": "2025-03-01", "medfee_sumamt": Decimal("60.80"),
                                     "fund_pay_sumamt": Decimal("0.00"), "acct_pay": Decimal("60.80"),
                                     "fixmedins_setl_cnt": 1}})),
        sign_out(b),
    ]


def offline_split(p: dict[str, str], items: list[tuple[tuple[str, int], int]], ytd: YearToDate, ed: int) -> Any:
    policy = load_policies().find(p["insuplc"], "employee", "active")
    cart = [CartLine(code, cnt, price, cls) for ((code, price), cnt), cls in zip(items, ("甲", "乙", "丙"))]
    return settle(cart, policy, ytd, ed, visit=Visit(VisitType.PHARMACY, "310000", NOW.date()))


def offline() -> list[Step]:
    b = Builder(start=301)
    items = [(A, 2), (B, 1)]
    s = offline_split(ZW, items, YearToDate(), 120000)
    info = s.to_setlinfo()
    cuts = []
    for i, parts in enumerate(s.lines, 1):
        cuts.append({"feedetl_sn": str(i), "det_item_fee_sumamt": wire.yuan_of(parts.amount_fen),
                     "fulamt_ownpay_amt": wire.yuan_of(parts.selfpay_fen), "preselfpay_amt": wire.yuan_of(parts.preselfpay_fen),
                     "inscp_scp_amt": wire.yuan_of(parts.eligible_fen), "act_pay_dedc": wire.yuan_of(parts.deductible_part_fen),
                     "hifp_pay": wire.yuan_of(parts.pooled_fen), "acct_pay": wire.yuan_of(parts.account_fen),
                     "psn_cash_pay": wire.yuan_of(parts.cash_fen), "ykt_over_cap_amt": wire.yuan_of(parts.over_cap_fen)})

    def ytd(y: YearToDate) -> dict[str, Decimal]:
        return {"deductible_used": wire.yuan_of(y.deductible_used_fen), "pooled_paid": wire.yuan_of(y.pooled_paid_fen),
                "inpatient_pooled_paid": wire.yuan_of(y.inpatient_pooled_paid_fen)}

    upload = {"data": {"ykt_offline_ref": "310100000001-000007", **cert(ZW), "med_type": "41",
                       "setl_time": "2025-03-01 09:30:00", "acct_used_flag": "1",
                       "medfee_sumamt": wire.yuan_of(s.total_fen), "insutype": "310"},
              "drugdetail": lines(*items),
              "setlinfo": {k: wire.yuan_of(v) for k, v in info.items() if k != "balc"},
              "detlcutinfo": cuts,
              "ykt": {"ytd_before": ytd(s.ytd_before), "ytd_after": ytd(s.ytd_after),
                      "ed_before": wire.yuan_of(120000), "ed_after": wire.yuan_of(s.account_balance_after_fen)}}
    load_msgid = wire.make_msgid(b.code, NOW, 350)
    refund = {"data": {"ykt_offline_ref": "310100000001-R000002", "setl_id": "{{setl_id_1}}", "psn_no": ZW["psn_no"],
                       "ykt_lines": ["2"], "setl_time": "2025-03-01 09:45:00"},
              "ykt": {"ytd_before": ytd(s.ytd_after)}}
    return [
        sign_in(b),
        step("Y301 allowance load (圈存) 100.00 onto the card's ED",
             b.env("Y301", {"data": {"psn_no": ZW["psn_no"], **cert(ZW), "amt": Decimal("100.00"),
                                     "ykt_ed_before": Decimal("1200.00")}}, insuplc="310000", msgid=load_msgid)),
        step("2601 of the Y301 (the card load did not happen)",
             b.env("2601", {"data": {"omsgid": load_msgid, "oinfno": "Y301"}})),
        step("Y201 upload of a sale settled offline from the card", b.env("Y201", upload, insuplc="310000")),
        step("Y201 the same sale under another msgid: the first settlement", b.env("Y201", upload, insuplc="310000")),
        step("Y202 upload of an offline refund of line 2", b.env("Y202", refund, insuplc="310000")),
        person(b, ZW, "1101: the centre's counters, account and allowance after the uploads"),
        sign_out(b),
    ]


SCENARIOS = {"signin_person": signin_and_person, "pharmacy": pharmacy, "clinic": clinic, "offline": offline}
