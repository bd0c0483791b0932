"""ISO 7816-4 transport rules every reader applies, as one pure helper.

A card may answer a case 2/4 command with

* ``61xx`` — "xx more bytes available": the reader fetches them with GET RESPONSE
  (``00 C0 00 00 xx``, CLA's logical channel bits kept) and concatenates, repeating while the card
  keeps answering ``61xx``;
* ``6Cxx`` — "wrong Le, the right one is xx": the reader re-sends the command with ``Le = xx``.

`exchange` hides both, so callers of `reader.base.Reader.transmit` never see them. It does no I/O of
its own: it calls ``send`` (one raw command → one raw response) as often as needed.

Example::

    >>> replies = iter([bytes.fromhex("6104"), bytes.fromhex("010203049000")])
    >>> exchange(lambda apdu: next(replies), bytes.fromhex("00B2010C00")).hex()
    '010203049000'
"""

from __future__ import annotations

from collections.abc import Callable

from reader.errors import CardError

#: Upper bound on chained GET RESPONSE / Le-retry round trips for one command; a card that keeps
#: asking for more than this is broken (64 × 256 bytes is far beyond any response we expect).
MAX_CHAINED = 64

GET_RESPONSE_INS = 0xC0


def _with_le(apdu: bytes, le: int) -> bytes:
    """Return the short APDU `apdu` with its Le set (added or replaced) to `le` (0 means 256).

    Handles the four short cases of ISO 7816-4 §5.1: header only, header+Le, header+Lc+data,
    header+Lc+data+Le. Extended-length APDUs never get 6Cxx from the cards we talk to; they raise.
    """
    if len(apdu) < 4:
        raise ValueError(f"APDU shorter than its 4-byte header: {apdu.hex()}")
    header, body = apdu[:4], apdu[4:]
    if len(body) == 0:  # case 1
        return header + bytes([le])
    if len(body) == 1:  # case 2: replace Le
        return header + bytes([le])
    lc = body[0]
    if lc == 0:
        raise ValueError(f"extended-length APDU cannot be re-sent with a short Le: {apdu.hex()}")
    if len(body) == 1 + lc:  # case 3: add Le
        return apdu + bytes([le])
    if len(body) == 2 + lc:  # case 4: replace Le
        return apdu[:-1] + bytes([le])
    raise ValueError(f"malformed APDU (Lc={lc}, {len(body) - 1} bytes follow): {apdu.hex()}")


def _check_response(response: bytes, command: bytes) -> None:
    if len(response) < 2:
        raise CardError(f"response without status word to {command[:4].hex()}: {response.hex()!r}")


def exchange(send: Callable[[bytes], bytes], apdu: bytes) -> bytes:
    """Send `apdu` through `send` and return the complete response (data ‖ SW1 SW2).

    ``61xx`` answers are followed by GET RESPONSE (``CLA C0 00 00 xx``, with CLA's channel bits from
    the command and the class byte otherwise 00) until the card stops answering ``61xx``; the data
    parts are concatenated and the last status word returned. ``6Cxx`` answers make it re-send the
    same command with ``Le = xx`` (once per 6Cxx; a second 6Cxx in a row is retried again up to the
    chain limit). Raises `CardError` when a response has no status word or the card chains forever,
    `ValueError` when `apdu` is malformed. Exceptions from `send` propagate unchanged.

    Example::

        >>> script = {bytes.fromhex("00B0000000"): bytes.fromhex("6C02"),
        ...           bytes.fromhex("00B0000002"): bytes.fromhex("ABCD9000")}
        >>> exchange(script.__getitem__, bytes.fromhex("00B0000000")).hex()
        'abcd9000'
    """
    if len(apdu) < 4:
        raise ValueError(f"APDU shorter than its 4-byte header: {apdu.hex()}")
    command = apdu
    response = send(command)
    _check_response(response, command)
    data = bytearray()
    for _ in range(MAX_CHAINED):
        sw1, sw2 = response[-2], response[-1]
        if sw1 == 0x6C:
            command = _with_le(command, sw2)
            response = send(command)
            _check_response(response, command)
            continue
        if sw1 == 0x61:
            data += response[:-2]
            # Keep the logical channel / secure messaging bits of an interindustry CLA; a
            # proprietary CLA (e.g. 0x80 / 0x84) gets GET RESPONSE in the interindustry class.
            cla = apdu[0] & 0x03 if apdu[0] & 0x80 == 0 else 0x00
            command = bytes([cla, GET_RESPONSE_INS, 0x00, 0x00, sw2])
            response = send(command)
            _check_response(response, command)
            continue
        return bytes(data) + response
    raise CardError(
        f"card kept chaining 61xx/6Cxx beyond {MAX_CHAINED} round trips for {apdu[:4].hex()}",
        sw=(response[-2] << 8) | response[-1],
    )
