"""Drawing a QR payload with segno (a small, pure-Python QR encoder): in a terminal and as PNG."""

from __future__ import annotations

import io
import os

import segno

# Screens are not scratched or creased: error correction L keeps the symbol small enough for an 80-column
# terminal; segno raises the level by itself when that fits in the same symbol version.
ERROR_LEVEL = "L"


def make_qr(payload: str) -> segno.QRCode:
    return segno.make(payload, error=ERROR_LEVEL, micro=False)


def terminal_text(payload: str, border: int = 4) -> str:
    """The symbol drawn with Unicode half blocks (one column per module, two modules per line), light
    modules as blocks, so it reads on a dark terminal."""
    out = io.StringIO()
    make_qr(payload).terminal(out=out, border=border, compact=True)
    return out.getvalue()


def write_png(payload: str, path: str | os.PathLike[str], scale: int = 4) -> None:
    make_qr(payload).save(os.fspath(path), kind="png", scale=scale, border=4)


def png_bytes(payload: str, scale: int = 4) -> bytes:
    out = io.BytesIO()
    make_qr(payload).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()
