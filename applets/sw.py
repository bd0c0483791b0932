"""ISO/IEC 7816-4 and PBOC (JR/T 0025) status words."""

from __future__ import annotations

from enum import IntEnum


class SW(IntEnum):
    OK = 0x9000
    WARNING_NO_INFO = 0x6200
    VERIFY_FAILED = 0x6300
    WRONG_LENGTH = 0x6700
    CLA_FUNCTION_NOT_SUPPORTED = 0x6800
    LOGICAL_CHANNEL_NOT_SUPPORTED = 0x6881
    SECURE_MESSAGING_NOT_SUPPORTED = 0x6882
    CHAINING_NOT_SUPPORTED = 0x6884
    COMMAND_INCOMPATIBLE = 0x6981
    SECURITY_STATUS_NOT_SATISFIED = 0x6982
    AUTH_METHOD_BLOCKED = 0x6983
    REFERENCE_DATA_INVALIDATED = 0x6984
    CONDITIONS_NOT_SATISFIED = 0x6985
    COMMAND_NOT_ALLOWED_NO_EF = 0x6986
    WRONG_DATA = 0x6A80
    FUNCTION_NOT_SUPPORTED = 0x6A81
    FILE_NOT_FOUND = 0x6A82
    RECORD_NOT_FOUND = 0x6A83
    NOT_ENOUGH_MEMORY = 0x6A84
    INCORRECT_P1P2 = 0x6A86
    REFERENCED_DATA_NOT_FOUND = 0x6A88
    WRONG_PARAMETERS = 0x6B00
    INS_NOT_SUPPORTED = 0x6D00
    CLA_NOT_SUPPORTED = 0x6E00
    NO_PRECISE_DIAGNOSIS = 0x6F00
    MEMORY_FAILURE = 0x6581
    # JR/T 0025 (PBOC e-purse) specific
    MAC_INVALID = 0x9302
    APPLICATION_BLOCKED = 0x9303
    INSUFFICIENT_BALANCE = 0x9401
    KEY_INDEX_NOT_SUPPORTED = 0x9403
    MAC_TAC_NOT_AVAILABLE = 0x9406


_MEANINGS: dict[int, str] = {
    SW.OK: "ok",
    SW.WARNING_NO_INFO: "warning, no information given",
    SW.VERIFY_FAILED: "verification failed",
    SW.WRONG_LENGTH: "wrong length",
    SW.CLA_FUNCTION_NOT_SUPPORTED: "function in CLA not supported",
    SW.LOGICAL_CHANNEL_NOT_SUPPORTED: "logical channel not supported",
    SW.SECURE_MESSAGING_NOT_SUPPORTED: "secure messaging not supported",
    SW.CHAINING_NOT_SUPPORTED: "command chaining not supported",
    SW.COMMAND_INCOMPATIBLE: "command incompatible with file structure",
    SW.SECURITY_STATUS_NOT_SATISFIED: "security status not satisfied",
    SW.AUTH_METHOD_BLOCKED: "authentication method blocked",
    SW.REFERENCE_DATA_INVALIDATED: "reference data invalidated",
    SW.CONDITIONS_NOT_SATISFIED: "conditions of use not satisfied",
    SW.COMMAND_NOT_ALLOWED_NO_EF: "command not allowed (no current EF)",
    SW.WRONG_DATA: "incorrect data field",
    SW.FUNCTION_NOT_SUPPORTED: "function not supported",
    SW.FILE_NOT_FOUND: "file or application not found",
    SW.RECORD_NOT_FOUND: "record not found",
    SW.NOT_ENOUGH_MEMORY: "not enough memory space in the file",
    SW.INCORRECT_P1P2: "incorrect parameters P1-P2",
    SW.REFERENCED_DATA_NOT_FOUND: "referenced data not found",
    SW.WRONG_PARAMETERS: "wrong parameters (offset outside the EF)",
    SW.INS_NOT_SUPPORTED: "instruction not supported",
    SW.CLA_NOT_SUPPORTED: "class not supported",
    SW.NO_PRECISE_DIAGNOSIS: "no precise diagnosis",
    SW.MEMORY_FAILURE: "memory failure",
    SW.MAC_INVALID: "MAC invalid",
    SW.APPLICATION_BLOCKED: "application blocked",
    SW.INSUFFICIENT_BALANCE: "insufficient balance",
    SW.KEY_INDEX_NOT_SUPPORTED: "key index not supported",
    SW.MAC_TAC_NOT_AVAILABLE: "MAC/TAC not available",
}


def wrong_pin(tries_left: int) -> int:
    """63Cx: wrong PIN, x tries left (ISO 7816-4 §5.6 'counter' warning)."""
    if not 0 <= tries_left <= 15:
        raise ValueError("tries left must be 0..15")
    return 0x63C0 | tries_left


def describe(sw: int) -> str:
    """A short English meaning of a status word, including the parameterised ones."""
    if sw in _MEANINGS:
        return _MEANINGS[sw]
    sw1, sw2 = sw >> 8, sw & 0xFF
    if sw1 == 0x61:
        return f"{sw2} more bytes available (GET RESPONSE)"
    if sw1 == 0x6C:
        return f"wrong Le, exact length is {sw2}"
    if sw & 0xFFF0 == 0x63C0:
        return f"wrong PIN, {sw2 & 0x0F} tries left"
    if sw1 == 0x62 or sw1 == 0x63:
        return "warning"
    return "unknown status"


def sw_bytes(sw: int) -> bytes:
    return sw.to_bytes(2, "big")
