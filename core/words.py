"""An image's words: what the ``words`` channel indexes, and BM25 over it.

The words of an image are its caption (the Slack message, or what the uploader wrote), the
text OCR read in it, and its file name. They are embedded with Qdrant's own BM25
(``qdrant_edge.Bm25``: no server, no download), so both vector backends see one
tokenisation and stemming; the collection's IDF modifier weighs rare words up.
"""

import re
from dataclasses import dataclass
from functools import cache

import qdrant_edge as qe

from core.vectors.base import HAS, WORDS, WORDS_FIELD, Sparse

FILENAME = "filename"
MAX_CHARS = 20_000
"""Words kept per image (a dense document page is about 3,000 characters)."""


@dataclass(frozen=True)
class Words:
    """The text fields of one image the words channel covers, each ``None`` when absent."""

    caption: str | None = None
    ocr: str | None = None
    filename: str | None = None

    @classmethod
    def of(cls, image, ocr: str | None = None) -> "Words":
        """The words of an ``Image`` row, with the text OCR read in it (if any yet)."""
        return cls(caption=image.caption, ocr=ocr or None, filename=image.filename)

    @classmethod
    def of_payload(cls, payload: dict) -> "Words | None":
        """The fields a point's payload was made of (``payload()``), or None for a point
        stored before the payload kept its file name."""
        if FILENAME not in payload:
            return None
        caption, filename, rest = payload.get("caption"), payload.get(FILENAME), payload.get(WORDS_FIELD) or ""
        if caption and rest.startswith(caption):
            rest = rest[len(caption):].removeprefix("\n")
        name = _name_words(filename)
        if name and rest.endswith(name):
            rest = rest[: -len(name)].removesuffix("\n")
        return cls(caption=caption, ocr=rest or None, filename=filename)

    def document(self) -> str:
        """All of it as one text, the file name split into words (``q3-revenue.png``: q3 revenue png)."""
        return "\n".join(part for part in (self.caption, self.ocr, _name_words(self.filename)) if part)[:MAX_CHARS]

    def vector(self) -> Sparse:
        return document_vector(self.document())

    def payload(self) -> dict:
        """The payload fields that go with the vector (indexed for phrases and exclusions),
        and the file name (so that ``of_payload`` can tell the words apart for snippets)."""
        return {WORDS_FIELD: self.document(), HAS: ["text"] if self.ocr else [], FILENAME: self.filename}

    def vectors(self) -> dict[str, Sparse]:
        """The point's ``words`` vector, or none when there are no words."""
        vector = self.vector()
        return {WORDS: vector} if vector else {}


def _name_words(filename: str | None) -> str | None:
    return " ".join(re.split(r"[\W_]+", filename)) if filename else None


@cache
def _bm25() -> qe.Bm25:
    return qe.Bm25(qe.Bm25Config(avg_len=64))  # captions and screenshots are short documents


def document_vector(text: str) -> Sparse:
    vector = _bm25().embed_document(text)
    return Sparse(tuple(vector.indices), tuple(vector.values))


def query_vector(text: str) -> Sparse:
    vector = _bm25().embed_query(text)
    return Sparse(tuple(vector.indices), tuple(vector.values))


def terms_of(text: str) -> frozenset[int]:
    """The BM25 token ids of a text (after lower-casing, stop words and stemming), so a word
    in a snippet can be matched to the query exactly as the search matched it."""
    return frozenset(_bm25().embed_query(text).indices)
