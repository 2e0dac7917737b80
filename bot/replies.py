"""What the bot answers, computed synchronously (the listeners run these in a thread):
searches, more-like-this, the feed, likes, and the Slack events that change the index.

A Slack member is a findimage user (team + user id), so their Slack likes and searches
and their web ones make one taste. Everything they are shown passes ``core.access``:
images of conversations they are not in never reach them.
"""

import logging
from collections.abc import Callable

import redis
from slack_sdk.errors import SlackApiError
from sqlmodel import Session, col, select

from bot.blocks import PAGE, SHARE, Shown, escape, home_view, results_message, shared_message, text_message
from core.access import Viewer, audience_of, readers_of, viewer_for, visible_image
from core.accounts import issue_token, slack_user
from core.errors import Forbidden, InvalidRequest, ServiceUnavailable
from core.links import signed_thumbnail_url
from core.models import Image, ImageStatus, LikeSource, SearchEvent, SearchKind, TokenKind
from core.runtime import Runtime
from core.shares import shares_of, shares_where
from core.slack import is_workspace_admin, web_client
from core.vectors import SearchFilter
from services.backfill import backfills, begin_backfill, described
from services.feed import feed_page
from services.query_language import parse_query
from services.queue import ingest_queue
from services.reposts import set_reposts
from services.search import filter_of, search_text
from services.shares import set_public, unshare
from services.signals import like, not_interested, record_click, record_search, unlike
from services.similar import MAX_PAGES, similar_to
from services.slack_files import queue_slack_file

log = logging.getLogger(__name__)
HOME_KEPT = 30 * 86400
"""Seconds App Home is refreshed after a like elsewhere since the person last opened it."""


def _home_mark(team: str, member: str) -> str:
    return f"findimage:slack:home:{team}:{member}"


class Replies:
    def __init__(self, runtime_of: Callable[[], Runtime], secret: str):
        self.runtime_of = runtime_of
        self.secret = secret
        """Signs the thumbnail links handed to Slack."""

    @property
    def runtime(self) -> Runtime:
        return self.runtime_of()

    # Slash command and buttons ------------------------------------------------------

    def search(self, team: str, member: str, query: str, page: int = 1, remember: bool = True) -> dict:
        """A page of results; ``remember`` a new search in the user's history and taste
        (turning pages says nothing new)."""
        size = self.runtime.settings.slack.page_size
        parsed = parse_query(query)
        if not parsed.text:
            raise InvalidRequest('Say what to look for besides the filters: a few words, or a "phrase".')
        with self.runtime.session() as session:
            user, viewer = self._user(session, team, member)
            where = filter_of(self.runtime, session, user, viewer, parsed)
            found = search_text(self.runtime, parsed, page, size, where=where)
            if remember:
                record_search(self.runtime, user.id, query, found, {"via": "slack"})
            snippets = {m.id: m.snippets[0] for m in found.results if m.snippets}
            shown = self._shown(session, [(m.id, m.score) for m in found.results], snippets=snippets)
        pages = max(1, -(-found.total_found // size))
        title = f"Images for *{escape(query)}*" + (f" (page {page} of {pages})" if pages > 1 else "")
        if found.results and not found.strong_count:
            title += "\nNo strong match; the closest images are below."
        return results_message(
            title,
            shown,
            previous={"q": query, "page": page - 1} if page > 1 else None,
            following={"q": query, "page": page + 1} if page < pages else None,
            query=query,
        )

    def similar(self, team: str, member: str, image_id: int, page: int = 1, remember: bool = True) -> dict:
        with self.runtime.session() as session:
            user, viewer = self._user(session, team, member)
            found = similar_to(self.runtime, image_id, page, SearchFilter(audience=viewer.tokens()))
            if remember:
                record_click(self.runtime, user.id, image_id, found, {"via": "slack"})
            shown = self._shown(session, [(m.id, m.score) for m in found.results])
        return results_message(
            f"More like image {image_id}" + (f" (page {page})" if page > 1 else ""),
            shown,
            previous={"similar": image_id, "page": page - 1} if page > 1 else None,
            following={"similar": image_id, "page": page + 1} if shown and page < MAX_PAGES else None,
        )

    def similar_to_message(self, team: str, member: str, channel: str, message: dict,
                           queue: bool = True) -> tuple[dict, bool]:
        """More like the image of a message (the "Find similar images" shortcut), and whether
        its image is still on its way (then it is queued, and the reply says so)."""
        files = [f for f in message.get("files", []) if str(f.get("mimetype", "")).startswith("image/")]
        if not files:
            return text_message("This message has no image to find similar ones to."), False
        with self.runtime.session() as session:
            images = session.exec(select(Image).where(
                Image.slack_team == team, col(Image.slack_file_id).in_([f["id"] for f in files]))).all()
        indexed = [i for i in images if i.status == ImageStatus.indexed]
        if indexed:
            return self.similar(team, member, indexed[0].id), False
        if queue:
            runtime = self.runtime
            for file in files:
                queue_slack_file(runtime, ingest_queue(runtime), team, file["id"], channel=channel, ts=message.get("ts"),
                                 user=message.get("user"), text=message.get("text") or None)
        return text_message("This image is not indexed yet: it is on its way, and this reply will show "
                            "similar images once it is."), True

    def page(self, team: str, member: str, target: dict) -> dict:
        """Another page of a search or a more-like-this (a paging button's value)."""
        page = max(1, min(int(target.get("page", 1)), 1000))
        if "similar" in target:
            return self.similar(team, member, int(target["similar"]), page, remember=False)
        return self.search(team, member, str(target["q"])[:500], page, remember=False)

    def feed(self, team: str, member: str) -> dict:
        with self.runtime.session() as session:
            user, viewer = self._user(session, team, member)
            found = feed_page(self.runtime, session, user.id, viewer, self.runtime.settings.slack.page_size)
            shown = self._shown(session, [(i.id, None) for i in found.items], {i.id: i.reason for i in found.items})
            link = f"{self.runtime.settings.base_url}/login/{issue_token(session, user, TokenKind.login)}"
        title = "Picked for you" if found.personal else "New and popular (like some images and this becomes yours)"
        message = results_message(f"*{title}*", shown, previous=None, following=None)
        message["blocks"].append({
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"<{link}|Open your feed on the web> (a one-time link for you alone, valid 24 hours)"}],
        })
        return message

    def share(self, team: str, member: str, channel: str, image_id: int, query: str | None) -> dict:
        """Post the image into ``channel``, if everyone who reads it may see the image already:
        a web or folder image, a public channel's image within its workspace, a private
        conversation's image only back into that conversation."""
        with self.runtime.session() as session:
            _, viewer = self._user(session, team, member)
            image = visible_image(session, viewer, image_id)
            audience = audience_of(image, shares_of(session, [image_id])[image_id])
            if not readers_of(team, channel).intersection(audience) or (image.slack_team not in (None, team)):
                raise Forbidden("This image is from a private conversation: posting it here would show it to people "
                                "who are not in that conversation, so it was not shared.")
            (item,) = self._shown(session, [(image_id, None)])
        try:
            web_client(self.runtime.settings).chat_postMessage(channel=channel, **shared_message(item, member, query))
        except SlackApiError as exc:
            if exc.response.get("error") in ("not_in_channel", "channel_not_found"):
                raise InvalidRequest("I am not in this conversation: invite me (/invite @findimage), then share again.") from exc
            raise ServiceUnavailable(f"Slack did not post the image: {exc.response.get('error')}") from exc
        return text_message(f"Shared image {image_id} here.")

    def home(self, team: str, member: str, focus: dict | None = None) -> dict:
        """The person's App Home: ``focus`` (``{"q": ...}`` or ``{"similar": id}``) on top, then
        their feed, their recent searches and the indexing of their conversations."""
        top = []
        if focus:
            found = self.page(team, member, {**focus, "page": 1}) if "similar" in focus else self.search(team, member, str(focus["q"])[:500])
            top = [_without_share(b) for b in found["blocks"] if not _is_paging(b)]  # no conversation to share into
        with self.runtime.session() as session:
            user, viewer = self._user(session, team, member)
            found = feed_page(self.runtime, session, user.id, viewer, self.runtime.settings.slack.page_size)
            shown = self._shown(session, [(i.id, None) for i in found.items], {i.id: i.reason for i in found.items})
            queries = session.exec(select(SearchEvent.query).where(
                SearchEvent.user_id == user.id, SearchEvent.kind == SearchKind.text
            ).order_by(col(SearchEvent.created_at).desc()).limit(30)).all()
            statuses = [f"<#{row.channel}>: {described(row)}" for row in backfills(session, team)
                        if viewer.tokens() is None or row.channel in viewer.channels]
        searches = list(dict.fromkeys(q for q in queries if q))[:5]
        title = "Picked for you" if found.personal else "New and popular (like some images and this becomes yours)"
        return home_view(top, title, shown, searches, statuses)

    def home_opened(self, team: str, member: str) -> None:
        """Remember for a month that the person uses App Home (likes elsewhere refresh it)."""
        try:
            self.runtime.redis.set(_home_mark(team, member), 1, ex=HOME_KEPT)
        except redis.RedisError:
            pass  # the tab is published anyway; only later refreshes are skipped

    def has_home(self, team: str, member: str) -> bool:
        try:
            return bool(self.runtime.redis.exists(_home_mark(team, member)))
        except redis.RedisError:
            return False

    def hide(self, team: str, member: str, image_id: int) -> None:
        """"Not interested" (App Home): never in their feed again."""
        with self.runtime.session() as session:
            user, viewer = self._user(session, team, member)
            visible_image(session, viewer, image_id)
            not_interested(self.runtime, session, user.id, image_id)

    def like(self, team: str, member: str, image_id: int) -> dict:
        with self.runtime.session() as session:
            user, viewer = self._user(session, team, member)
            visible_image(session, viewer, image_id)
            changed = like(self.runtime, session, user.id, image_id, LikeSource.slack)
        return text_message(f"♥ Liked image {image_id}." if changed else f"You already like image {image_id}.")

    # Events ----------------------------------------------------------------------------

    def reaction(self, team: str, member: str, channel: str, ts: str, added: bool) -> list[int]:
        """A reaction on a message is a like (or, removed, an unlike) of its indexed images."""
        with self.runtime.session() as session:
            images = _images_of_message(session, team, channel, ts)
            if not images:
                return []
            user = slack_user(session, team, member)
            for image in images:
                if added:
                    like(self.runtime, session, user.id, image.id, LikeSource.slack)
                else:
                    unlike(self.runtime, session, user.id, image.id)
            return [image.id for image in images]

    def backfill(self, team: str, member: str, channel: str) -> dict:
        """``/findimage backfill``: a workspace admin (or a findimage admin) asks for this
        channel's earlier images."""
        with self.runtime.session() as session:
            user = slack_user(session, team, member)
        if not (user.is_admin or is_workspace_admin(self.runtime.settings, member)):
            raise Forbidden("Only workspace admins can ask for a channel's history; I index it by myself when I am "
                            "added to a channel.")
        row = begin_backfill(self.runtime, team, channel)
        return text_message(f"Indexing this channel's earlier images: {described(row)}. App Home shows how it goes.")

    def reposts(self, team: str, member: str, channel: str, on: bool) -> dict:
        """``/findimage reposts on|off``: the repost notice in this channel."""
        with self.runtime.session() as session:
            set_reposts(session, team, channel, on)
        return text_message("I will say in a thread when an image posted here was posted before." if on
                            else "I will not point out reposts here.")

    def joined(self, team: str, channel: str) -> None:
        """The bot was added to a conversation: index the images posted there before."""
        begin_backfill(self.runtime, team, channel)
        log.info("Joined %s/%s: indexing its earlier images", team, channel)

    def forget_file(self, team: str, file_id: str) -> list[int]:
        """A file deleted in Slack: its shares go, and the images left with none."""
        with self.runtime.session() as session:
            return self._forget(unshare(self.runtime, session, team, file_id=file_id))

    def forget_message(self, team: str, channel: str, ts: str) -> list[int]:
        """A message deleted in Slack: its share goes; an image shared elsewhere too stays."""
        with self.runtime.session() as session:
            return self._forget(unshare(self.runtime, session, team, channel=channel, ts=ts))

    def channel_privacy(self, team: str, channel: str, public: bool) -> None:
        """A channel made private (or public): its images' audience follows at once."""
        with self.runtime.session() as session:
            changed = set_public(self.runtime, session, team, channel, public)
        log.info("Channel %s/%s made %s: %d images' audience updated", team, channel,
                 "public" if public else "private", changed)

    @staticmethod
    def _forget(deleted: list[int]) -> list[int]:
        for image_id in deleted:
            log.info("Image %s left the index: deleted in Slack", image_id)
        return deleted

    # Helpers -------------------------------------------------------------------------

    def _user(self, session: Session, team: str, member: str):
        user = slack_user(session, team, member)
        viewer: Viewer = viewer_for(self.runtime.settings, self.runtime.redis, session, user.id)
        return user, viewer

    def _shown(self, session: Session, ranked: list[tuple[int, float | None]], notes: dict | None = None,
               snippets: dict | None = None) -> list[Shown]:
        rows = {i.id: i for i in session.exec(select(Image).where(col(Image.id).in_([i for i, _ in ranked])))}
        base = self.runtime.settings.base_url
        public = self.runtime.settings.public_base_url is not None
        return [
            Shown(
                id=image_id,
                score=score,
                caption=rows[image_id].caption,
                slack_file_id=rows[image_id].slack_file_id,
                image_url=signed_thumbnail_url(base, self.secret, image_id) if public else None,
                web_url=f"{base}/#/image/{image_id}",
                note=(notes or {}).get(image_id),
                snippet=(snippets or {}).get(image_id),
            )
            for image_id, score in ranked
            if image_id in rows
        ]


def _without_share(block: dict) -> dict:
    if block["type"] != "actions":
        return block
    return {**block, "elements": [e for e in block["elements"] if e.get("action_id") != SHARE]}


def _is_paging(block: dict) -> bool:
    return block["type"] == "actions" and any(e.get("action_id", "").startswith(PAGE) for e in block["elements"])


def _images_of_message(session: Session, team: str, channel: str, ts: str) -> list[Image]:
    """The images shared in that message (a reaction on any message of an image is a like)."""
    ids = {share.image_id for share in shares_where(session, team, channel=channel, ts=ts)}
    return list(session.exec(select(Image).where(col(Image.id).in_(ids)))) if ids else []
