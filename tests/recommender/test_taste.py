"""The taste math on hand-made vectors: decay, weights, unlike, interests, MMR."""

import numpy as np
import pytest

from recommender.scoring import interleave_order, mmr, quotas
from recommender.taste import Signal, Taste, build_taste, decay_factor, interests, update_taste

DAY = 86400.0
HALF_LIFE = 30 * DAY
E = np.eye(8, dtype=np.float32)  # eight orthogonal directions: unrelated interests


def unit(x):
    return (np.asarray(x, np.float32) / np.linalg.norm(x)).astype(np.float32)


def fold(signals, **params):
    taste = Taste.empty(8, signals[0].at)
    for s in signals:
        taste = update_taste(taste, s, HALF_LIFE, **params)
    return taste


def test_a_signal_counts_half_after_one_half_life():
    assert decay_factor(0, HALF_LIFE) == 1.0
    assert decay_factor(HALF_LIFE, HALF_LIFE) == pytest.approx(0.5)
    assert decay_factor(3 * HALF_LIFE, HALF_LIFE) == pytest.approx(0.125)
    taste = fold([Signal(1, E[0], 1.0, at=0.0)])
    (interest,) = interests(taste, now=HALF_LIFE, half_life=HALF_LIFE)
    assert interest.share == 1.0
    assert taste.weights[0] == pytest.approx(1.0)  # stored at its own time; decays as it is seen later


def test_unrelated_signals_make_separate_interests_weighted_by_kind():
    # likes weigh 1.0, searches 0.5, clicks 0.3: two likes of 'cats', one search and a click on 'maps'
    signals = [Signal(1, E[0], 1.0, 0), Signal(2, unit(E[0] + 0.1 * E[2]), 1.0, 0),
               Signal(3, E[1], 0.5, 0), Signal(4, unit(E[1] + 0.1 * E[3]), 0.3, 0)]
    found = interests(fold(signals), now=0, half_life=HALF_LIFE)
    assert len(found) == 2
    assert found[0].direction @ E[0] > 0.99 and found[1].direction @ E[1] > 0.99
    assert [round(i.share, 3) for i in found] == [round(2 / 2.8, 3), round(0.8 / 2.8, 3)]
    assert found[0].exemplars == [1, 2] and found[1].exemplars == [3, 4]


def test_old_interests_fade_and_fresh_ones_lead():
    signals = [Signal(1, E[0], 1.0, 0), Signal(2, E[0], 1.0, 0), Signal(3, E[1], 1.0, 60 * DAY)]
    found = interests(fold(signals), now=60 * DAY, half_life=HALF_LIFE)
    # the two old likes now weigh 2 * 0.25 = 0.5 against the fresh like's 1.0
    assert found[0].direction @ E[1] > 0.99 and found[0].share == pytest.approx(1 / 1.5)
    much_later = signals[:2] + [Signal(3, E[1], 1.0, 360 * DAY)]
    (fresh,) = interests(fold(much_later), now=360 * DAY, half_life=HALF_LIFE)
    assert fresh.direction @ E[1] > 0.99  # the old interest fell under 5% of the whole and is dropped


def test_the_number_of_interests_is_capped_and_the_nearest_takes_the_rest():
    signals = [Signal(i, E[i], 1.0, 0) for i in range(4)] + [Signal(9, unit(E[2] + 0.5 * E[5]), 1.0, 0)]
    taste = fold(signals, max_interests=4)
    assert len(taste) == 4
    assert taste.weights.tolist() == [1.0, 1.0, 2.0, 1.0]


def test_the_exact_rebuild_matches_the_incremental_taste():
    rng = np.random.default_rng(0)
    signals = [Signal(i, unit(E[i % 3] + 0.2 * rng.normal(size=8)), [1.0, 0.3, 0.5][i % 3], i * DAY) for i in range(30)]
    incremental = interests(fold(signals), now=40 * DAY, half_life=HALF_LIFE)
    rebuilt = interests(build_taste(signals, 8, 40 * DAY, HALF_LIFE), now=40 * DAY, half_life=HALF_LIFE)
    assert len(incremental) == len(rebuilt) == 3
    for a, b in zip(incremental, rebuilt):
        assert a.direction @ b.direction > 0.999 and a.share == pytest.approx(b.share, abs=1e-4)


def test_an_unlike_rebuilt_without_its_signal_forgets_it_entirely():
    kept = [Signal(1, E[0], 1.0, 0), Signal(2, E[0], 1.0, DAY)]
    with_unliked = kept + [Signal(3, E[4], 1.0, 2 * DAY)]
    assert len(interests(build_taste(with_unliked, 8, 3 * DAY, HALF_LIFE), 3 * DAY, HALF_LIFE)) == 2
    (only,) = interests(build_taste(kept, 8, 3 * DAY, HALF_LIFE), 3 * DAY, HALF_LIFE)
    assert only.direction @ E[0] > 0.999 and only.exemplars == [2, 1]
    assert build_taste([], 8, 0, HALF_LIFE).weights.size == 0


def test_a_rebuild_of_signals_hundreds_of_half_lives_old_fades_them_and_still_clusters_the_rest():
    old = [Signal(i, E[i % 2], 1.0, i * DAY) for i in range(4)]  # two interests, then a year of nothing
    assert interests(build_taste(old, 8, 400 * DAY, DAY), 400 * DAY, DAY) == []  # faded (it used to fail)
    recent = [Signal(10 + i, unit(E[i % 2] + 0.1 * E[5]), 1.0, 300 * DAY + i) for i in range(6)]
    rebuilt = interests(build_taste(old + recent, 8, 301 * DAY, DAY), 301 * DAY, DAY)
    assert [round(i.share, 3) for i in rebuilt] == [0.5, 0.5]
    assert sorted(sorted(i.exemplars) for i in rebuilt) == [[10, 12, 14], [11, 13, 15]]


def test_quotas_follow_the_shares_and_every_interest_gets_a_slot():
    assert quotas([0.75, 0.25], 24) == [18, 6]
    assert quotas([0.5, 0.3, 0.2], 10) == [5, 3, 2]
    assert quotas([0.97, 0.03], 10) == [9, 1]
    assert quotas([], 10) == []


def test_interleaving_spreads_each_source_through_the_page():
    order = interleave_order([3, 1])
    assert sorted(order) == [0, 0, 0, 1] and order[0] == 0 and order[-1] == 0
    assert interleave_order([2, 2]) == [0, 1, 0, 1]


def test_mmr_prefers_relevant_but_new_and_collapses_near_duplicates():
    vectors = np.stack([E[0], unit(E[0] + 0.01 * E[1]), unit(E[0] + 0.6 * E[2]), E[3]])
    relevance = np.array([0.9, 0.89, 0.8, 0.4])
    order = mmr(relevance, vectors, count=4, diversity=0.3, duplicate_above=0.95)
    assert order == [0, 2, 3]  # 1 is a near-duplicate of 0 and never shown
    assert mmr(relevance, vectors, count=4, diversity=0.0, duplicate_above=1.01) == [0, 1, 2, 3]


def test_not_interested_pulls_the_interest_it_is_close_to_away_and_shrinks_it():
    likes = [Signal(1, E[0], 1.0, 0), Signal(2, E[1], 1.0, 0)]
    stray = unit(E[0] + 0.6 * E[2])  # near the first interest, off to one side
    before = interests(fold(likes), now=0, half_life=HALF_LIFE)
    after = interests(fold(likes + [Signal(3, stray, -0.5, 0)]), now=0, half_life=HALF_LIFE)
    assert [round(i.share, 3) for i in before] == [0.5, 0.5]
    first = next(i for i in after if i.direction @ E[0] > 0.5)
    assert first.direction @ stray < before[0].direction @ stray  # moved away from the stray ...
    assert first.direction @ E[2] < 0  # ... to the other side of where it was
    assert first.share < 0.5  # and it counts for less


def test_not_interested_far_from_every_interest_or_alone_changes_nothing():
    likes = [Signal(1, E[0], 1.0, 0)]
    far = fold(likes + [Signal(2, E[5], -1.0, 0)])
    np.testing.assert_array_equal(far.sums, fold(likes).sums)
    assert len(fold([Signal(1, E[3], -1.0, 0)])) == 0  # never an interest of its own
    assert interests(fold([Signal(1, E[0], 1.0, 0), Signal(2, E[0], -2.0, 0)]), 0, HALF_LIFE) == []  # taken to nothing


def test_the_exact_rebuild_takes_not_interested_into_account():
    signals = [Signal(1, E[0], 1.0, 0), Signal(2, unit(E[0] + 0.2 * E[1]), 1.0, DAY),
               Signal(3, unit(E[0] + 0.6 * E[2]), -0.5, 2 * DAY), Signal(4, E[4], 1.0, 3 * DAY)]
    rebuilt = build_taste(signals, 8, 3 * DAY, HALF_LIFE)
    folded = fold(signals)
    assert folded.weights.sum() == pytest.approx(rebuilt.weights.sum(), rel=1e-5)
    np.testing.assert_allclose(folded.sums.sum(axis=0), rebuilt.sums.sum(axis=0), atol=1e-5)
