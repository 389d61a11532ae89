"""HTTP/1.1 messages as bytes, for a client jobsim answers from below its socket (``jobsim._aiohttp``).

The request is read as a server reads it, from what the client wrote; the answer, an ``httpx.Response``
from the sink, is written as a server writes it, for the client's own parser to read.
"""

from __future__ import annotations

import httpx

__all__ = ["SentRequest", "answer_body", "response_bytes"]


class SentRequest:
    """The request as aiohttp writes it, read as a server reads it: a head, then a body framed by
    ``Content-Length`` or chunked encoding (aiohttp writes one or the other for any body)."""

    def __init__(self) -> None:
        self.raw = bytearray()
        self.headers: list[tuple[str, str]] = []
        self.body = b""
        self.complete = False
        self._head_end: int | None = None
        self._length = 0
        self._chunked = False
        self._chunks: list[bytes] = []
        self._cursor = 0
        self._continued = False

    def feed(self, data: bytes) -> None:
        self.raw += data
        if self._head_end is None:
            end = self.raw.find(b"\r\n\r\n")
            if end < 0:
                return
            self._read_head(end)
        if self._chunked:
            self._read_chunks()
        elif len(self.raw) - self._cursor >= self._length:
            self.body = bytes(self.raw[self._cursor:self._cursor + self._length])
            self.complete = True

    def awaits_continue(self) -> bool:
        """The head asked for ``100 Continue`` before the body (told once)."""
        if self._continued or self._head_end is None or self.complete:
            return False
        self._continued = any(name.lower() == "expect" and value.lower() == "100-continue"
                              for name, value in self.headers)  # fmt: skip
        return self._continued

    def _read_head(self, end: int) -> None:
        self._head_end, self._cursor = end, end + 4
        lines = self.raw[:end].decode("latin-1").split("\r\n")[1:]
        self.headers = [(name, value.strip()) for name, _, value in (line.partition(":") for line in lines)]
        for name, value in self.headers:
            if name.lower() == "content-length":
                self._length = int(value)
            elif name.lower() == "transfer-encoding" and "chunked" in value.lower():
                self._chunked = True

    def _read_chunks(self) -> None:
        raw = self.raw
        while True:
            line_end = raw.find(b"\r\n", self._cursor)
            if line_end < 0:
                return
            size = int(raw[self._cursor:line_end].split(b";")[0], 16)
            if size == 0:  # the last chunk, then trailers (aiohttp sends none) up to an empty line
                trailer_end = raw.find(b"\r\n\r\n", line_end)
                if trailer_end < 0:
                    return
                self.body, self.complete = b"".join(self._chunks), True
                return
            if len(raw) < line_end + 2 + size + 2:
                return
            self._chunks.append(bytes(raw[line_end + 2:line_end + 2 + size]))
            self._cursor = line_end + 2 + size + 2


async def answer_body(answer: httpx.Response) -> tuple[bytes, bool]:
    """The body's bytes as the server sent them, and whether they are those (still content-encoded).

    A response built from bytes keeps them in its ``ByteStream``; one a side effect streams can only be
    read decoded, so its ``Content-Encoding`` header goes with the encoding.
    """
    stream = answer.stream
    if isinstance(stream, httpx.ByteStream):
        return b"".join(stream), True
    if isinstance(stream, httpx.AsyncByteStream):
        return await answer.aread(), False
    return answer.read(), False


def response_bytes(answer: httpx.Response, method: str, body: bytes, encoded: bool) -> bytes:
    """``answer`` as a server writes it: status line, headers, and the body with its length.

    A response to HEAD, a 1xx, 204 or 304 has no body: its headers go as the route gave them (a HEAD
    answer's ``Content-Length`` describes the GET's body).
    """
    bodiless = method == "HEAD" or answer.status_code < 200 or answer.status_code in (204, 304)
    lines = [f"HTTP/1.1 {answer.status_code} {answer.reason_phrase}".encode("ascii")]
    for name, value in answer.headers.raw:
        lowered = name.lower()
        if (not bodiless and lowered in (b"content-length", b"transfer-encoding")) or (
                lowered == b"content-encoding" and not encoded):
            continue
        lines.append(name + b": " + value)
    if not bodiless:
        lines.append(b"Content-Length: " + str(len(body)).encode("ascii"))
    return b"\r\n".join(lines) + b"\r\n\r\n" + (b"" if bodiless else body)
