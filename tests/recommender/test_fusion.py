"""Weighted reciprocal-rank fusion, worked by hand."""

import pytest

from recommender.fusion import rrf


def test_scores_add_up_over_the_lists_an_item_is_in():
    fused = dict(rrf([[1, 2, 3], [3, 1]], k=60))
    assert fused[1] == pytest.approx(1 / 60 + 1 / 61)  # first of one list, second of the other
    assert fused[3] == pytest.approx(1 / 62 + 1 / 60)
    assert fused[2] == pytest.approx(1 / 61)
    assert [i for i, _ in rrf([[1, 2, 3], [3, 1]], k=60)] == [1, 3, 2]


def test_a_weight_divides_a_lists_ranks():
    # Weighted 2, the words list's 2nd (item 8) counts as the first list's 1st.
    fused = dict(rrf([[7, 9], [5, 8]], k=60, weights=[1.0, 2.0]))
    assert fused[8] == pytest.approx(fused[7])
    assert [i for i, _ in rrf([[7, 9], [5, 8]], k=60, weights=[1.0, 2.0])][:1] == [5]


def test_ties_break_by_id_and_the_limit_cuts_the_tail():
    assert rrf([[4], [2]], k=60) == [(2, pytest.approx(1 / 60)), (4, pytest.approx(1 / 60))]
    assert [i for i, _ in rrf([[1, 2, 3, 4]], limit=2)] == [1, 2]
    with pytest.raises(ValueError):
        rrf([[1], [2]], weights=[1.0])
