"""Errors whose message is meant for the person using the app or the CLI."""

from __future__ import annotations

import os

__all__ = ["InputError", "printable"]


class InputError(ValueError):
    """Unusable input (a bad file, folder, parameter …). ``str(error)`` is the message to show.

    The CLI exits with status 2 on it; the GUI shows it and keeps what it had.
    """


def printable(path: str | os.PathLike) -> str:
    """``path`` as text that can always be printed, logged or written as UTF-8.

    A file name that is not valid UTF-8 reaches Python with its bad bytes as lone
    surrogates, which no UTF-8 stream accepts; they are shown as ``\\xNN`` instead.
    """
    text = os.fspath(path)
    if isinstance(text, bytes):
        return text.decode("utf-8", "backslashreplace")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace") if _only_escapes(text) \
            else text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _only_escapes(text: str) -> bool:
    # surrogateescape can only encode lone surrogates U+DC80 … U+DCFF (the bytes 0x80 … 0xFF)
    return all(not 0xD800 <= ord(ch) <= 0xDFFF or 0xDC80 <= ord(ch) <= 0xDCFF for ch in text)
