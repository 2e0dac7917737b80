"""Searches and clicks written in one batch (the API's recorder) on both databases: every
one in its person's history, in order, and the same taste as written one at a time."""

import numpy as np
from sqlmodel import select

from core.accounts import create_user
from core.history import history
from core.models import Taste
from core.vectors import IMAGE, VectorPoint
from services.search import SearchPage
from services.signals import click_entry, record, record_click, record_search, search_entry
from services.similar import similar_to
from services.tastes import to_taste
from tests.factories import place


def test_a_batch_keeps_every_search_in_order_and_learns_the_same_taste(db_runtime):
    runtime = db_runtime
    space = runtime.space
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(2, runtime.embedder.dim))
    vectors = [(centres[i % 2] + 0.2 * rng.normal(size=runtime.embedder.dim)).astype(np.float32) for i in range(6)]
    found = [SearchPage([], 1, 15, 0, query_vector=v, space_id=space.id) for v in vectors]
    place(runtime, [VectorPoint(id=9, vectors={IMAGE: vectors[5]}, payload={})])
    clicked = similar_to(runtime, 9)
    with runtime.session() as session:
        ana, bo, cy = (create_user(session, name).id for name in ("ana", "bo", "cy"))

    # ana's and bo's searches interleaved in one batch, with a page 2 (history only) and a click
    batch = []
    for i in range(5):
        batch += [search_entry(ana, f"query {i}", found[i], {}), search_entry(bo, f"other {i}", found[4 - i], {})]
    batch += [search_entry(ana, "query 4", found[4], {}, page=2), click_entry(ana, 9, clicked, {})]
    record(runtime, batch)
    # cy does what ana did, one write at a time
    for i in range(5):
        record_search(runtime, cy, f"query {i}", found[i], {})
    record_search(runtime, cy, "query 4", found[4], {}, page=2)
    record_click(runtime, cy, 9, clicked, {})

    with runtime.session() as session:
        said = [(e.kind, e.query, e.image_id) for e in reversed(history(session, ana))]
        assert said == [("text", f"query {i}", None) for i in range(5)] + [("text", "query 4", None), ("click", None, 9)]
        assert [e.query for e in reversed(history(session, bo))] == [f"other {i}" for i in range(5)]
        tastes = {row.user_id: to_taste(row) for row in session.exec(select(Taste))}
    batched, alone = tastes[ana], tastes[cy]
    assert len(batched.weights) == len(alone.weights) >= 2  # two interests: the two kinds of query
    np.testing.assert_allclose(batched.sums, alone.sums, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(batched.weights, alone.weights, rtol=1e-4)


def test_one_persons_failed_write_does_not_lose_the_others(db_runtime):
    runtime = db_runtime
    vector = np.ones(runtime.embedder.dim, np.float32)
    found = SearchPage([], 1, 15, 0, query_vector=vector, space_id=runtime.space.id)
    with runtime.session() as session:
        ana = create_user(session, "ana").id
    gone = ana + 1000  # a user deleted since the search: their rows break the foreign key
    record(runtime, [search_entry(gone, "lost", found, {}), search_entry(ana, "kept", found, {})])
    with runtime.session() as session:
        assert [e.query for e in history(session, ana)] == ["kept"]
        assert session.get(Taste, ana) is not None
