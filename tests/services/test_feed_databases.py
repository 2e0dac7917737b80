"""The feed's impressions on both databases: fresh images first, none twice in a scroll;
caught up, the ones shown before, least recently shown first; an image shown before the
window is fresh again, and renewed when shown (an upsert on each dialect)."""

import time

import numpy as np

from core.access import Viewer
from core.accounts import create_user
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
