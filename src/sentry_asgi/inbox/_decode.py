"""Request bodies under Content-Encoding: gzip, deflate and brotli, each with a size cap.

Every decoder stops as soon as the output passes the cap, so a small compressed bomb costs no
more memory than an honest envelope of the largest accepted size.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


class TooLargeError(ValueError):
    """The (decoded) body is larger than the inbox accepts."""


class BadEncodingError(ValueError):
    """The body cannot be decoded with the encoding it claims; the message is the reason."""


def decode(body: bytes, encoding: str, limit: int) -> bytes:
    """Undo ``encoding`` (a Content-Encoding value, possibly a list) on ``body``."""
    for name in reversed([part.strip().lower() for part in encoding.split(",") if part.strip()]):
        decoder = _DECODERS.get(name)
        if decoder is None:
            msg = f"unsupported Content-Encoding: {name}"
            raise BadEncodingError(msg)
        body = decoder(body, limit)
    if len(body) > limit:
        raise TooLargeError(limit)
    return body


def _zlib(body: bytes, limit: int, wbits: int) -> bytes:
    """Inflate each stream in turn (a gzip body may hold several members) with a cap on the total.

    Each stream is asked for no more than what is left under the cap, plus one byte to know. It
    is fed in pieces that double in size: zlib copies the input past a stream's end, and a
    body of many tiny streams would otherwise copy the rest of itself once per stream.
    """
    chunks: list[bytes] = []
    size = 0
    view = memoryview(body)
    start = 0
    while True:
        inflater = zlib.decompressobj(wbits)
        piece = _FIRST_PIECE
        while not inflater.eof:
            if start >= len(view):
                msg = "compressed body is truncated"
                raise BadEncodingError(msg)
            fed = view[start : start + piece]
            chunk = inflater.decompress(fed, limit + 1 - size)
            size += len(chunk)
            if size > limit:
                raise TooLargeError(limit)
            chunks.append(chunk)
            start += len(fed) - len(inflater.unused_data)
            piece *= 2
        if start >= len(view):
            return b"".join(chunks)


# The first piece of a stream fed to zlib: a gzip member's header and trailer alone are 18 bytes.
_FIRST_PIECE = 256


def _gzip(body: bytes, limit: int) -> bytes:
    try:
        return _zlib(body, limit, 16 + zlib.MAX_WBITS)
    except zlib.error as exc:
        msg = f"body is not valid gzip: {exc}"
        raise BadEncodingError(msg) from None


def _deflate(body: bytes, limit: int) -> bytes:
    # HTTP's "deflate" is the zlib format, but raw deflate is common enough to accept as well.
    try:
        return _zlib(body, limit, zlib.MAX_WBITS)
    except zlib.error:
        pass
    try:
        return _zlib(body, limit, -zlib.MAX_WBITS)
    except zlib.error as exc:
        msg = f"body is not valid deflate: {exc}"
        raise BadEncodingError(msg) from None


def _brotli(body: bytes, limit: int) -> bytes:
    try:
        import brotli  # type: ignore[import-untyped]  # noqa: PLC0415 - only the cli extra brings it
    except ImportError:
        msg = 'brotli bodies need the brotli package: pip install "sentry-asgi[cli]"'
        raise BadEncodingError(msg) from None
    decompressor = brotli.Decompressor()
    try:
        out: bytes = decompressor.process(body, output_buffer_limit=limit + 1)
    except brotli.error as exc:
        msg = f"body is not valid brotli: {exc}"
        raise BadEncodingError(msg) from None
    if len(out) > limit:
        raise TooLargeError(limit)
    if not decompressor.is_finished():
        msg = "compressed body is truncated"
        raise BadEncodingError(msg)
    return out


_DECODERS: dict[str, Callable[[bytes, int], bytes]] = {
    "identity": lambda body, _limit: body,
    "gzip": _gzip,
    "x-gzip": _gzip,
    "deflate": _deflate,
    "br": _brotli,
}
