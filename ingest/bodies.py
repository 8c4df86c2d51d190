"""Request bodies as stored: zstd-compressed by intake, decompressed by the indexer.

An agent's request repeats itself (each LLM call re-sends the conversation so far), so zstd
shrinks a 1.6 MB protobuf body ~5× and a 6.5 MB one of agents re-sending long conversations
~12×, in 5–10 ms of the intake thread. PostgreSQL then writes a fifth to a twelfth of the bytes
to its WAL and TOAST before the commit the 2xx waits for: storing a 6.5 MB body went from ~160 ms
to ~14 ms (docs/performance.md). Batches stored before (compression "") are read as they are.
"""
from __future__ import annotations

import zstandard

ZSTD = "zstd"
LEVEL = 3  # faster than level 1 on these bodies, and a third smaller


def pack(body: bytes) -> tuple[bytes, str]:
    """(stored bytes, their compression). A compressor per call: they are not thread-safe, and
    gunicorn's threads share this module."""
    return zstandard.ZstdCompressor(level=LEVEL).compress(body), ZSTD


def unpack(stored: bytes | memoryview, compression: str, size: int | None) -> bytes:
    """The body as received. `size`: its length as recorded at intake; the frame must agree."""
    if not compression:
        return bytes(stored)
    if compression != ZSTD:
        raise ValueError(f"stored body has an unknown compression {compression!r}")
    body = zstandard.ZstdDecompressor().decompress(stored, max_output_size=size or 0)
    if size is not None and len(body) != size:
        raise ValueError(f"stored body decompressed to {len(body)} bytes; {size} were stored")
    return body
