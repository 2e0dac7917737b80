"""The search box's language, one for the web page and Slack.

    deploy failed "exit code 137" -staging in:#ops from:@ana after:2026-03-01 has:text is:liked

- ``"exact phrase"``: the image's words hold it, word for word;
- ``-word``: its words do not hold ``word``;
- ``in:#channel`` or ``in:C0123ABCD``: shared in that Slack channel;
- ``from:@name``: uploaded or posted by them;
- ``before:``, ``after:``, ``on:`` an ISO date (``2026-03-01``; days are UTC);
- ``has:text``: OCR found text in it; ``is:liked``: you like it.

Everything else is what to look for. A word with a colon that is not one of these
(``error:``, ``http://``) is just a word. A malformed filter is an ``InvalidQuery`` naming
it. Pure: no I/O, so the web, the bot and the tests parse alike.

Slack sends a slash command's channels and people escaped (``<#C0123ABCD|design>``,
``<@U0123ABCD|ana>``): ``in:`` and ``from:`` take those too, and keep the id.
"""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from core.errors import InvalidRequest

OPERATORS = ("in", "from", "before", "after", "on", "has", "is")
_TOKEN = re.compile(r'(-?)"([^"]*)("?)|(\S+)')
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")
_SLACK_REF = re.compile(r"^<[#@]([A-Z0-9]+)(?:\|[^>]*)?>$")
"""Slack's escaped channel or user: ``<#C0123|name>``, ``<@U0123|name>``, ``<@U0123>``."""
_SLACK_TEXT = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|[^>]*)?>")


class InvalidQuery(InvalidRequest):
    code = "invalid_query"

    def __init__(self, token: str, message: str):
        super().__init__(f"{message} ({token!r})")
        self.token = token


@dataclass(frozen=True)
class ParsedQuery:
    words: tuple[str, ...] = ()
    """The free words, in order."""
    phrases: tuple[str, ...] = ()
    without: tuple[str, ...] = ()
    channel: str | None = None
    """A channel id (``C0123ABCD``) or a ``#name`` still to be resolved."""
    uploader: str | None = None
    after: datetime | None = None
    before: datetime | None = None
    has_text: bool = False
    liked: bool = False

    @property
    def text(self) -> str:
        """What to look for: the free words and the phrases' words (what CLIP and BM25 see)."""
        return " ".join((*self.words, *self.phrases))

    @property
    def has_filters(self) -> bool:
        return self != ParsedQuery(words=self.words, phrases=self.phrases)


def parse_query(query: str) -> ParsedQuery:
    query = _SLACK_TEXT.sub(r"\1", query).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    words, phrases, without = [], [], []
    fields: dict = {}
    for match in _TOKEN.finditer(query):
        negated, phrase, closed, token = match.groups()
        if token is None:  # a quoted phrase
            if not closed:
                raise InvalidQuery(match.group(0), "A phrase is missing its closing quote")
            phrase = " ".join(phrase.split())
            if negated:
                raise InvalidQuery(match.group(0), "Exclude single words (-word), not phrases")
            if phrase:
                phrases.append(phrase)
            continue
        key, colon, value = token.partition(":")
        bare_key = key.removeprefix("-").lower()
        if colon and bare_key in OPERATORS:
            if key.startswith("-"):
                raise InvalidQuery(token, f"{bare_key}: cannot be negated")
            _operator(token, bare_key, value, fields)
        elif token.startswith("-") and len(token) > 1:
            without.append(token[1:])
        else:
            words.append(token)
    if "on" in fields:
        if "after" in fields or "before" in fields:
            raise InvalidQuery("on:", "Use on: or after:/before:, not both")
        day = fields.pop("on")
        fields["after"], fields["before"] = day, day + timedelta(days=1)
    if fields.get("after") and fields.get("before") and fields["after"] >= fields["before"]:
        raise InvalidQuery("after:", "after: must come before before:")
    return ParsedQuery(words=tuple(words), phrases=tuple(phrases), without=tuple(without), **fields)


def _operator(token: str, key: str, value: str, fields: dict) -> None:
    name = {"has": "has_text", "is": "liked", "in": "channel", "from": "uploader"}.get(key, key)
    if name in fields or (key == "on" and "on" in fields):
        raise InvalidQuery(token, f"Give {key}: once")
    if not value:
        raise InvalidQuery(token, f"{key}: needs a value")
    if (ref := _SLACK_REF.match(value)) is not None:
        value = ref.group(1)
    if key == "in":
        if value.startswith("#") and len(value) > 1:
            fields[name] = value.lower()
        elif _CHANNEL_ID.match(value.upper()):
            fields[name] = value.upper()
        else:
            raise InvalidQuery(token, "in: takes a channel, as #name or its id (C0123ABCD)")
    elif key == "from":
        if not value.removeprefix("@"):
            raise InvalidQuery(token, "from: needs a name after the @")
        fields[name] = value.removeprefix("@")
    elif key in ("before", "after", "on"):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise InvalidQuery(token, f"{key}: takes a date as YYYY-MM-DD") from None
        fields[key] = datetime(day.year, day.month, day.day, tzinfo=UTC)
    elif key == "has":
        if value.lower() != "text":
            raise InvalidQuery(token, "has: knows has:text")
        fields[name] = True
    elif key == "is":
        if value.lower() != "liked":
            raise InvalidQuery(token, "is: knows is:liked")
        fields[name] = True

