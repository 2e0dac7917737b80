"""The search box's language: one parser for the web and Slack."""

from datetime import UTC, datetime

import pytest

from services.query_language import InvalidQuery, ParsedQuery, parse_query


def day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize("query, parsed", [
    ("red bike", ParsedQuery(words=("red", "bike"))),
    ('deploy "exit code 137"', ParsedQuery(words=("deploy",), phrases=("exit code 137",))),
    ('"  spaced   out  "', ParsedQuery(phrases=("spaced out",))),
    ("pipeline -staging -rollback", ParsedQuery(words=("pipeline",), without=("staging", "rollback"))),
    ("chart in:#Design", ParsedQuery(words=("chart",), channel="#design")),
    ("chart in:c0123abcd", ParsedQuery(words=("chart",), channel="C0123ABCD")),
    ("chart from:@ana", ParsedQuery(words=("chart",), uploader="ana")),
    ("chart after:2026-03-01 before:2026-04-01",
     ParsedQuery(words=("chart",), after=day("2026-03-01"), before=day("2026-04-01"))),
    ("chart on:2026-03-01", ParsedQuery(words=("chart",), after=day("2026-03-01"), before=day("2026-03-02"))),
    ("chart has:text is:liked", ParsedQuery(words=("chart",), has_text=True, liked=True)),
    ("Error: 404 http://x.y/z - a", ParsedQuery(words=("Error:", "404", "http://x.y/z", "-", "a"))),
    ("IN:#ops HAS:TEXT", ParsedQuery(channel="#ops", has_text=True)),
])
def test_what_a_query_asks_for(query, parsed):
    assert parse_query(query) == parsed


def test_slack_escaped_channels_people_and_links_keep_their_ids():
    parsed = parse_query("in:<#C0123ABCD|design> from:<@U0456DEFG|ana> <https://a.example/b|a.example/b> x &amp; y")
    assert parsed.channel == "C0123ABCD" and parsed.uploader == "U0456DEFG"
    assert parsed.words == ("https://a.example/b", "x", "&", "y")


def test_the_text_searched_is_the_words_and_the_phrases():
    parsed = parse_query('q3 "revenue grew" -draft in:#finance')
    assert parsed.text == "q3 revenue grew" and parsed.has_filters
    assert not parse_query("q3 revenue").has_filters


@pytest.mark.parametrize("query, token", [
    ("x in:", "in:"),
    ("x in:design", "in:design"),
    ("x from:@", "from:@"),
    ("x before:2026-13-01", "before:2026-13-01"),
    ("x after:yesterday", "after:yesterday"),
    ("x has:pictures", "has:pictures"),
    ("x is:mine", "is:mine"),
    ('x "unclosed phrase', '"unclosed phrase'),
    ('x -"a phrase"', '-"a phrase"'),
    ("x -in:#ops", "-in:#ops"),
    ("x in:#a in:#b", "in:#b"),
    ("x on:2026-01-01 after:2026-01-01", "on:"),
    ("x after:2026-02-01 before:2026-01-01", "after:"),
])
def test_a_malformed_filter_is_refused_by_name(query, token):
    with pytest.raises(InvalidQuery) as refused:
        parse_query(query)
    assert refused.value.token == token and repr(token) in refused.value.message
    assert refused.value.code == "invalid_query"
