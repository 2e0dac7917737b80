"""CLIP's byte-pair tokenizer without torch: the same token ids as open_clip's
``SimpleTokenizer`` (tests compare them), as a numpy array.

The algorithm and the vocabulary file are OpenAI CLIP's (MIT License, Copyright (c) 2021
OpenAI), as open_clip ships them; the exported model folder carries its own copy of the
vocabulary, so the query path needs neither torch nor open_clip.
"""

import gzip
import html
import string
from functools import cache, lru_cache
from pathlib import Path

import ftfy
import numpy as np
import regex

VOCAB_FILE = "bpe_simple_vocab_16e6.txt.gz"
VOCAB_SIZE = 49408
"""CLIP's tokens: 256 bytes, 256 word-final bytes, 48,894 merges, 2 special tokens."""
_SPECIAL = ("<start_of_text>", "<end_of_text>")
_MERGES = VOCAB_SIZE - 2 * 256 - len(_SPECIAL)


class ClipTokenizer:
    def __init__(self, vocab_path: Path, context_length: int = 77, clean: str = "lower"):
        merges = gzip.open(vocab_path).read().decode("utf-8").split("\n")[1 : _MERGES + 1]
        pairs = [tuple(merge.split()) for merge in merges]
        symbols = list(_byte_symbols().values())
        vocab = symbols + [s + "</w>" for s in symbols] + ["".join(pair) for pair in pairs] + list(_SPECIAL)
        self._ids = {token: i for i, token in enumerate(vocab)}
        self._ranks = {pair: rank for rank, pair in enumerate(pairs)}
        self._words = lru_cache(maxsize=65536)(self._bpe)
        self._pattern = regex.compile(
            "|".join(_SPECIAL) + r"""|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
            regex.IGNORECASE,
        )
        self._clean = _CLEANERS[clean]
        self.context_length = context_length
        self.start, self.end = self._ids[_SPECIAL[0]], self._ids[_SPECIAL[1]]

    def __call__(self, texts: list[str]) -> np.ndarray:
        """Token ids, ``[len(texts), context_length]`` int64, zero-padded; a text too long
        is cut and still ends with the end-of-text token."""
        out = np.zeros((len(texts), self.context_length), dtype=np.int64)
        for row, text in enumerate(texts):
            tokens = [self.start, *self.encode(text), self.end]
            if len(tokens) > self.context_length:
                tokens = tokens[: self.context_length]
                tokens[-1] = self.end
            out[row, : len(tokens)] = tokens
        return out

    def encode(self, text: str) -> list[int]:
        ids = []
        byte_symbols = _byte_symbols()
        for piece in self._pattern.findall(self._clean(text)):
            word = "".join(byte_symbols[b] for b in piece.encode("utf-8"))
            ids.extend(self._ids[token] for token in self._words(word))
        return ids

    def _bpe(self, word: str) -> tuple[str, ...]:
        if word in _SPECIAL:
            return (word,)
        parts = (*word[:-1], word[-1] + "</w>")
        while len(parts) > 1:
            pair = min(zip(parts, parts[1:]), key=lambda p: self._ranks.get(p, float("inf")))
            if pair not in self._ranks:
                break
            merged, i = [], 0
            while i < len(parts):
                if i < len(parts) - 1 and (parts[i], parts[i + 1]) == pair:
                    merged.append(parts[i] + parts[i + 1])
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = tuple(merged)
        return parts


@cache
def _byte_symbols() -> dict[int, str]:
    """Every byte as a printable unicode character (BPE works on those, not on bytes)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in printable]
    return {
        **{b: chr(b) for b in printable},
        **{b: chr(256 + n) for n, b in enumerate(others)},
    }


def _basic(text: str) -> str:
    return html.unescape(html.unescape(ftfy.fix_text(text))).strip()


def _canonical(text: str) -> str:
    text = _basic(text).replace("_", " ").translate(str.maketrans("", "", string.punctuation))
    return " ".join(text.lower().split())


_CLEANERS = {
    "lower": lambda text: " ".join(_basic(text).split()).lower(),
    "whitespace": lambda text: " ".join(_basic(text).split()),
    "canonicalize": _canonical,
}
