"""Snippets: the piece of an image's words that holds the query's words, with offsets."""

from services.snippets import WIDTH, snippets_for


def marked(snippet) -> list[str]:
    return [snippet.text[a:b] for a, b in snippet.marks]


def test_words_are_marked_as_bm25_reads_them_stemmed_and_in_any_case():
    [snippet] = snippets_for({"ocr": "The Deployment FAILED at stage migrate"}, "deploy failing")
    assert snippet.field == "ocr" and marked(snippet) == ["Deployment", "FAILED"]


def test_a_long_text_is_cut_around_the_most_marked_words():
    text = " ".join(["filler"] * 200) + " revenue grew fourteen percent " + " ".join(["filler"] * 200)
    [snippet] = snippets_for({"ocr": text}, "revenue percent")
    assert snippet.text.startswith("…") and snippet.text.endswith("…")
    assert len(snippet.text) <= WIDTH + 40 and marked(snippet) == ["revenue", "percent"]


def test_the_fields_with_most_marks_come_first_and_fields_without_any_are_left_out():
    snippets = snippets_for({"ocr": "quarterly revenue chart", "caption": "the revenue", "filename": "IMG_1.png"},
                            "quarterly revenue")
    assert [s.field for s in snippets] == ["ocr", "caption"]


def test_stop_words_alone_mark_nothing():
    assert snippets_for({"ocr": "the cat and the hat"}, "the and") == []
