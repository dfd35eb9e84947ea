"""A small streaming tokenizer for worksheet XML, so a rewrite can copy untouched bytes verbatim.

It knows tags, comments, CDATA and processing instructions, reads the part in chunks and never
expands entities (package.py has already refused any DOCTYPE). Markup is ASCII, and no byte of
a multi-byte UTF-8 sequence is below 0x80, so scanning bytes is safe for any ASCII-compatible
encoding.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from excel_glm.errors import WorkbookError

CHUNK = 1 << 20
# One tag or row larger than this is refused: a real row (even 100 cells of 32,767 characters)
# stays far below it, and the cap bounds the memory a hostile sheet can make a rewrite hold.
MAX_ELEMENT = 64 << 20
MAIN_NAMESPACES = (
    b"http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    b"http://purl.oclc.org/ooxml/spreadsheetml/main",
)

_NAME = rb"[A-Za-z_][\w.\-]*"
# A tag: quoted attribute values may hold ">" legally, so the body is quote-aware.
_TAG = re.compile(rb"<(/?)(" + _NAME + rb"(?::" + _NAME + rb")?)((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>")
_ATTR = re.compile(rb"(" + _NAME + rb"(?::" + _NAME + rb")?)\s*=\s*(\"[^\"]*\"|'[^']*')")
_XMLNS = re.compile(rb"xmlns(?::(" + _NAME + rb"))?\s*=\s*(\"[^\"]*\"|'[^']*')")
_SPECIALS = ((b"<!--", b"-->"), (b"<![CDATA[", b"]]>"), (b"<?", b"?>"))


@dataclass(frozen=True, slots=True)
class Token:
    """One piece of markup: kind is "start", "end", "empty", "comment", "cdata", "pi" or "text"."""

    kind: str
    start: int
    end: int
    qname: bytes = b""
    attrs: bytes = b""

    @property
    def local(self) -> bytes:
        """The element name without its prefix."""
        return self.qname.rpartition(b":")[2]

    @property
    def prefix(self) -> bytes:
        """The element's prefix with its colon (b"x:"), or b""."""
        head, colon, _ = self.qname.rpartition(b":")
        return head + colon


def parse_attrs(attrs: bytes) -> dict[bytes, bytes]:
    """Attribute name -> raw value (entities left as written)."""
    return {m.group(1): m.group(2)[1:-1] for m in _ATTR.finditer(attrs)}


def attr_items(attrs: bytes) -> list[tuple[bytes, bytes]]:
    """(name, quoted value) pairs in document order, quotes kept as written."""
    return [(m.group(1), m.group(2)) for m in _ATTR.finditer(attrs)]


def main_prefix(root: Token) -> bytes:
    """The prefix (with colon) bound to SpreadsheetML's main namespace on the root element."""
    for match in _XMLNS.finditer(root.attrs):
        if match.group(2)[1:-1] in MAIN_NAMESPACES:
            return match.group(1) + b":" if match.group(1) else b""
    return root.prefix


def next_token(data: bytes, pos: int, final: bool) -> Token | None:
    """The token starting at `pos`, or None when `data` ends inside it and more may come."""
    lt = data.find(b"<", pos)
    if lt != pos:
        if lt < 0:
            if not final:
                return None
            lt = len(data)
        return Token("text", pos, lt)
    for opener, closer in _SPECIALS:
        if data.startswith(opener, pos):
            end = data.find(closer, pos + len(opener))
            if end < 0:
                return _incomplete(data, pos, final)
            kind = {b"<!--": "comment", b"<![CDATA[": "cdata", b"<?": "pi"}[opener]
            return Token(kind, pos, end + len(closer))
    if data.startswith(b"<!", pos) and (len(data) - pos >= 9 or final):
        raise WorkbookError("the worksheet XML holds a declaration it must not (<!DOCTYPE...)")
    match = _TAG.match(data, pos)
    if match is None:
        return _incomplete(data, pos, final)
    body = match.group(3)
    if match.group(1):
        kind = "end"
    elif body.endswith(b"/"):
        kind, body = "empty", body[:-1]
    else:
        kind = "start"
    return Token(kind, pos, match.end(), match.group(2), body)


def _incomplete(data: bytes, pos: int, final: bool) -> None:
    if final:
        snippet = data[pos : pos + 40].decode("utf-8", "replace")
        raise WorkbookError(f"the worksheet XML is malformed near {snippet!r}")
    return None


class ByteStream:
    """A growing window over a binary stream; offsets stay valid until `advance` drops bytes."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.data = b""
        self.pos = 0
        self.eof = False

    def fill(self) -> bool:
        """Append one more chunk; False at the end of the stream."""
        if self.eof:
            return False
        chunk = self.raw.read(CHUNK)
        if not chunk:
            self.eof = True
            return False
        self.data += chunk
        return True

    def advance(self, to: int) -> None:
        """Mark everything before `to` consumed; may drop it, which invalidates older offsets."""
        self.pos = to
        if to > CHUNK:
            self.data, self.pos = self.data[to:], 0

    def grow(self) -> bool:
        """Double the unconsumed window (at least one chunk); False at the end of the stream.

        Doubling keeps the re-scans of one long incomplete token linear in its size overall.
        """
        wanted = len(self.data) + max(CHUNK, len(self.data) - self.pos)
        grew = False
        while len(self.data) < wanted and self.fill():
            grew = True
        if len(self.data) - self.pos > MAX_ELEMENT:
            raise WorkbookError(
                f"the worksheet XML holds one element over {MAX_ELEMENT >> 20} MB; "
                "refusing it (real rows are far smaller)"
            )
        return grew

    def token(self) -> Token | None:
        """The next token at `pos` (not consumed), or None at the end of the stream."""
        while True:
            if self.pos >= len(self.data) and not self.fill():
                return None
            token = next_token(self.data, self.pos, self.eof)
            if token is not None:
                return token
            self.grow()

    def element_end(self, start: Token) -> int:
        """The offset just past the element that `start` opens (reading more as needed)."""
        if start.kind == "empty":
            return start.end
        closing = b"</" + start.qname
        search_from = start.end
        while True:
            found = self.data.find(closing, search_from)
            after = found + len(closing)
            if found >= 0 and after < len(self.data) and self.data[after] not in b"> \t\r\n":
                search_from = after  # "</rowX": another element that only starts alike
                continue
            if found >= 0:
                gt = self.data.find(b">", found)
                if gt >= 0:
                    if b"<!" not in self.data[start.end : found]:
                        return gt + 1
                    return self._walk_to_end(start)
            search_from = max(start.end, len(self.data) - len(closing) - 64)
            if not self.grow():
                raise WorkbookError(f"the worksheet XML ends inside <{start.qname.decode()}>")

    def _walk_to_end(self, start: Token) -> int:
        """Slow path when comments or CDATA could hide a fake closing tag."""
        depth, pos = 1, start.end
        while True:
            token = next_token(self.data, pos, self.eof)
            if token is None:
                if not self.grow():
                    raise WorkbookError("the worksheet XML ends inside an element")
                continue
            if token.kind == "start":
                depth += 1
            elif token.kind == "end":
                depth -= 1
                if depth == 0:
                    return token.end
            pos = token.end


def iter_tokens(fragment: bytes) -> Iterator[Token]:
    """Every token of a complete, in-memory fragment."""
    pos = 0
    while pos < len(fragment):
        token = next_token(fragment, pos, True)
        if token is None:  # cannot happen with final=True; keeps the type checker honest
            return
        yield token
        pos = token.end
