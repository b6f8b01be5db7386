"""``pptrain_core.stats.summary``: the distribution summary every family's ``stats()`` uses."""

from __future__ import annotations

import pytest

from pptrain_core.stats import summary


def test_summary_of_one_to_eleven_by_hand():
    # 11 values 1..11: linear percentiles at positions 0.1*10 = 1, 5, 9 -> 2, 6, 10
    s = summary(list(range(1, 12)))
    assert s == {"min": 1.0, "p10": 2.0, "median": 6.0, "p90": 10.0, "max": 11.0, "mean": 6.0}


def test_summary_interpolates_between_values():
    # [0, 10]: p10 = 1, median = 5, p90 = 9 by linear interpolation
    s = summary([10, 0])
    assert (s["p10"], s["median"], s["p90"]) == pytest.approx((1.0, 5.0, 9.0))


def test_summary_of_nothing_is_an_error():
    with pytest.raises(ValueError, match="no values"):
        summary([])
