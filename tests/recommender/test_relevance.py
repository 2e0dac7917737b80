"""Strong matches are judged against each query's own score distribution."""

import numpy as np

from recommender.relevance import MIN_CANDIDATES, strong_above


def tail(rng, n=300, scale=0.003, floor=0.24):
    """The best n cosines of a query that matches nothing in particular: a smooth tail."""
    return sorted((floor + rng.exponential(scale, n)).tolist(), reverse=True)


def test_the_best_of_a_smooth_tail_is_not_strong_but_a_real_outlier_is():
    rng = np.random.default_rng(0)
    for seed in range(20):
        scores = tail(np.random.default_rng(seed))
        assert scores[0] < strong_above(scores)
    scores = tail(rng)
    assert 0.31 >= strong_above([0.31, *scores])  # a match far above its query's candidates


def test_the_bar_is_per_query_not_one_global_cut():
    rng = np.random.default_rng(1)
    low, high = tail(rng, floor=0.18), tail(rng, floor=0.30)
    assert strong_above(low) < 0.26 < strong_above(high)


def test_too_few_candidates_or_no_spread_say_nothing():
    assert strong_above([0.3] * (MIN_CANDIDATES - 1)) == float("inf")
    assert strong_above([0.3] * 100) == float("inf")
