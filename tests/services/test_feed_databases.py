"""The feed's impressions on both databases: fresh images first, none twice in a scroll;
caught up, the ones shown before, least recently shown first; an image shown before the
window is fresh again, and renewed when shown (an upsert on each dialect)."""

import time

import numpy as np
from sqlmodel import col, select

from core.access import Viewer
from core.accounts import create_user
from core.db import listed
from core.models import Image as ImageRow
from core.models import LikeSource
from core.vectors import IMAGE, VectorPoint
from services.feed import feed_page
from services.signals import like
from tests.factories import place

DAY = 24 * 3600
ANYONE = Viewer()
"""A user with no Slack identity: sees web images (all there are here)."""


def test_pages_do_not_repeat_and_old_impressions_are_renewed(db_runtime):
    runtime = db_runtime
    rng = np.random.default_rng(3)
    direction = rng.normal(size=32)
    vectors = direction + 0.3 * rng.normal(size=(12, 32))
    place(runtime, [VectorPoint(id=i + 1, vectors={IMAGE: v.astype(np.float32)}, payload={}) for i, v in enumerate(vectors)])
    now = time.time()
    with runtime.session() as session:
        user = create_user(session, "ana").id
        like(runtime, session, user, 1, LikeSource.web)
        first = feed_page(runtime, session, user, ANYONE, limit=6, now=now)
        second = feed_page(runtime, session, user, ANYONE, limit=6, now=now + 1, since=first.since)
        ids = lambda page: [item.id for item in page.items]
        assert not first.caught_up and len(ids(first)) == 6
        # 11 not liked, none twice; then, caught up, the liked one
        assert second.caught_up and ids(second)[:5] == [i for i in ids(second)[:5] if i not in ids(first)]
        assert len(set(ids(first) + ids(second)[:5])) == 11 and ids(second)[5:] == [1]
        # Every image was on this scroll: it goes round again, least recently shown first.
        third = feed_page(runtime, session, user, ANYONE, limit=6, now=now + 2, since=second.since)
        assert third.caught_up and set(ids(third)) == set(ids(first))
        # Past the window (14 days) they are fresh again; shown again, they are renewed.
        later = now + 15 * DAY
        again = feed_page(runtime, session, user, ANYONE, limit=6, now=later)
        assert not again.caught_up and set(ids(again)) <= set(range(2, 13))
        after = feed_page(runtime, session, user, ANYONE, limit=6, now=later + 1, since=again.since)
        assert not set(ids(after)[:5]) & set(ids(again))


def test_the_team_feed_leaves_out_what_it_showed(db_runtime):
    """No taste yet: pages of the team's most-liked and newest images, none twice in a scroll."""
    runtime = db_runtime
    rng = np.random.default_rng(4)
    place(runtime, [VectorPoint(id=i + 1, vectors={IMAGE: v.astype(np.float32)}, payload={})
                    for i, v in enumerate(rng.normal(size=(30, 32)))])
    now = time.time()
    with runtime.session() as session:
        fan, newcomer = create_user(session, "fan").id, create_user(session, "newcomer").id
        for image_id in (7, 8):
            like(runtime, session, fan, image_id, LikeSource.web)
        pages, since = [], None
        for n in range(4):
            page = feed_page(runtime, session, newcomer, ANYONE, limit=8, now=now + n, since=since)
            pages.append([item.id for item in page.items])
            since = page.since
        assert not page.personal and pages[0][0] in (7, 8) and set(pages[0]) >= {7, 8}
        shown = [i for ids in pages[:3] for i in ids] + pages[3][:6]
        assert len(shown) == len(set(shown)) == 30  # every image once, then round again


def test_thousands_of_ids_are_one_parameter(db_runtime):
    """More ids than SQLite takes parameters in one statement (32,766) still select."""
    ids = list(range(1, 40_001))
    with db_runtime.session() as session:
        place(db_runtime, [VectorPoint(id=i, vectors={IMAGE: np.ones(32, np.float32)}, payload={}) for i in (5, 39_999, 50_000)])
        found = session.exec(select(ImageRow.id).where(col(ImageRow.id).in_(listed(session, ids))).order_by(ImageRow.id)).all()
        left = session.exec(select(ImageRow.id).where(col(ImageRow.id).not_in(listed(session, ids)))).all()
    assert list(found) == [5, 39_999] and list(left) == [50_000]
