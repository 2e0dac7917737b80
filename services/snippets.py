"""Why a result matched, in words: a short piece of its OCR text, caption or file name with
the query's words marked (offsets into the snippet's text, never markup).

A word is marked when BM25 reads it as one of the query's terms (``core.words.terms_of``:
the same lower-casing, stop words and stemming the search used), so "deployment" is marked
for "deploy".
"""

import re
from dataclasses import dataclass
from functools import lru_cache

from core.words import terms_of

WIDTH = 160
"""Characters of context a snippet shows at most."""
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Snippet:
    field: str
    """Where the text is from: ``ocr``, ``caption`` or ``filename``."""
    text: str
    marks: list[tuple[int, int]]
    """``[start, end)`` character offsets of the marked words in ``text``."""


def snippets_for(fields: dict[str, str | None], query: str, most: int = 2) -> list[Snippet]:
    """The best piece of each field that holds query words, the fields with most marks first."""
    wanted = terms_of(query)
    if not wanted:
        return []
    found = [s for name, text in fields.items() if text and (s := _snippet(name, text, wanted)) is not None]
    return sorted(found, key=lambda s: -len(s.marks))[:most]


def _snippet(field: str, text: str, wanted: frozenset[int]) -> Snippet | None:
    hits = [(m.start(), m.end()) for m in _WORD.finditer(text) if _term_of(m.group().lower()) & wanted]
    if not hits:
        return None
    start, end = _window(text, hits)
    piece = text[start:end]
    lead = "…" if start > 0 else ""
    shown = lead + " ".join(piece.split("\n"))
    shift = len(lead) - start
    marks = [(a + shift, b + shift) for a, b in hits if a >= start and b <= end]
    return Snippet(field, shown + ("…" if end < len(text) else ""), marks)


def _window(text: str, hits: list[tuple[int, int]]) -> tuple[int, int]:
    """The ``WIDTH`` characters holding the most marked words, widened to word boundaries."""
    best, best_count = hits[0][0], 0
    for start, _ in hits:
        count = sum(1 for a, b in hits if start <= a and b <= start + WIDTH)
        if count > best_count:
            best, best_count = start, count
    start = max(0, best - 30)
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    end = min(len(text), start + WIDTH)
    while end < len(text) and not text[end].isspace():
        end += 1
    return start, end


@lru_cache(maxsize=65_536)
def _term_of(word: str) -> frozenset[int]:
    return terms_of(word)
