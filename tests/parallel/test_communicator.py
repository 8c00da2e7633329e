"""The communicator's even split of a batch over the ranks (deltaprop.parallel.communicator)."""

from __future__ import annotations

import itertools

import pytest

from deltaprop.parallel import (
    even_share,
)


@pytest.mark.parametrize("size", [1, 2, 3, 5])
@pytest.mark.parametrize("n", [0, 1, 2, 7, 10, 203])
def test_even_share_tiles_the_rows_as_evenly_as_possible(n: int, size: int) -> None:
    shares = [even_share(n, r, size) for r in range(size)]
    assert shares[0].start == 0 and shares[-1].stop == n
    assert all(a.stop == b.start for a, b in itertools.pairwise(shares))
    lengths = [s.stop - s.start for s in shares]
    assert max(lengths) - min(lengths) <= 1 and lengths == sorted(lengths, reverse=True)


@pytest.mark.parametrize(
    ("args", "match"),
    [((-1, 0, 2), "n must be a non-negative integer"), ((3, 2, 2), r"rank must be in \[0, size\)")],
)
def test_even_share_rejects_bad_arguments(args: tuple[int, int, int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        even_share(*args)
