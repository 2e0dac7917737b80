"""Our torch-free tokenizer gives exactly open_clip's token ids."""

import random

import numpy as np
import pytest

from core.clip.tokenizer import VOCAB_FILE, ClipTokenizer


def strings() -> list[str]:
    rng = random.Random(7)
    words = [
        "photo",
        "dog",
        "café",
        "naïve",
        "Straße",
        "東京",
        "🐶",
        "🎉🎉",
        "don't",
        "it's",
        "we'll",
        "I'd",
        "&amp;",
        "&lt;b&gt;",
        "2026",
        "3.14",
        "x-ray",
        "e-mail",
        "HELLO",
        "MiXeD",
        "\t",
        "\n",
        "  ",
        "ﬁ",
        "Ωmega",
        "привет",
        "مرحبا",
        "🇫🇷",
        "👩‍💻",
        "a_b",
        "#tag",
        "@here",
        "https://example.com/a?b=c",
    ]
    fixed = ["", " ", "a", "A photo of a dog.", "x" * 500, "word " * 120, "emoji " + "😀" * 90, "ÀÉÎÕÜ"]
    return fixed + [" ".join(rng.choices(words, k=rng.randint(1, 40))) for _ in range(300)]


@pytest.mark.usefixtures("torch_embedder")  # makes open_clip importable (torchvision shim)
@pytest.mark.parametrize("clean", ["lower", "whitespace", "canonicalize"])
def test_token_ids_match_open_clip_on_hundreds_of_strings(clean):
    from open_clip.tokenizer import SimpleTokenizer, default_bpe

    texts = strings()
    theirs = SimpleTokenizer(clean=clean)(texts).numpy()
    ours = ClipTokenizer(default_bpe(), clean=clean)(texts)
    assert ours.dtype == np.int64 and ours.shape == (len(texts), 77)
    mismatched = [texts[i] for i in np.flatnonzero((ours != theirs).any(axis=1))]
    assert not mismatched


def test_long_text_is_cut_and_still_ends_with_the_end_token(embedder):
    tokenizer = ClipTokenizer(embedder.folder / VOCAB_FILE)
    ids = tokenizer(["word " * 200, "short"])
    assert ids[0, 0] == tokenizer.start and ids[0, -1] == tokenizer.end and (ids[0] != 0).all()
    assert list(ids[1, :3]) == [tokenizer.start, tokenizer.encode("short")[0], tokenizer.end] and not ids[1, 3:].any()
