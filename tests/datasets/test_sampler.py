"""The epoch order: blocks by global row index, buffers, seeded permutations
(deltaprop/data/sampler.py)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from deltaprop.data import epoch_buffers, rank_rows, validation_mask


def test_one_buffer_is_the_in_memory_permutation() -> None:
    got = epoch_buffers(1000, np.random.default_rng(3), block_rows=100, buffer_blocks=10)
    assert len(got) == 1
    np.testing.assert_array_equal(got[0], np.random.default_rng(3).permutation(1000))


def test_buffers_hold_whole_blocks_and_every_row_once() -> None:
    rng = np.random.default_rng(0)
    bufs = epoch_buffers(1050, rng, block_rows=100, buffer_blocks=3)
    assert len(bufs) == 4 and [len(np.unique(b // 100)) for b in bufs] == [3, 3, 3, 2]
    np.testing.assert_array_equal(np.sort(np.concatenate(bufs)), np.arange(1050))
    for b in bufs:  # whole blocks: 3 distinct blocks per buffer, each complete
        blocks = np.unique(b // 100)
        assert len(blocks) <= 3
        assert b.size == sum(min(100, 1050 - 100 * k) for k in blocks)
    # the documented draws: the block order, then each buffer's permutation
    rng = np.random.default_rng(0)
    perm = rng.permutation(11)
    rows = np.concatenate([np.arange(100 * k, min(100 * k + 100, 1050)) for k in perm[:3]])
    np.testing.assert_array_equal(bufs[0], rows[rng.permutation(rows.size)])


def test_the_first_buffers_alone_are_the_whole_orders_first_and_draw_only_theirs() -> None:
    keep = np.arange(1050) % 7 != 0
    whole = epoch_buffers(
        1050, np.random.default_rng(5), block_rows=100, buffer_blocks=3, keep=keep
    )
    rng = np.random.default_rng(5)
    first = epoch_buffers(1050, rng, block_rows=100, buffer_blocks=3, keep=keep, count=1)
    assert len(first) == 1
    np.testing.assert_array_equal(first[0], whole[0])
    again = np.random.default_rng(5)  # drawn: the block order and one buffer's permutation
    again.permutation(11), again.permutation(whole[0].size)
    assert rng.bit_generator.state == again.bit_generator.state
    ordered = epoch_buffers(25, None, block_rows=4, buffer_blocks=2, shuffle=False, count=2)  # type: ignore[arg-type]
    assert [b.size for b in ordered] == [8, 8]


def test_no_shuffle_gives_rows_in_order_and_draws_nothing() -> None:
    bufs = epoch_buffers(25, None, block_rows=4, buffer_blocks=2, shuffle=False)  # type: ignore[arg-type]
    np.testing.assert_array_equal(np.concatenate(bufs), np.arange(25))
    assert [b.size for b in bufs] == [8, 8, 8, 1]


def test_kept_rows_only() -> None:
    keep = np.arange(50) % 3 != 0
    bufs = epoch_buffers(50, np.random.default_rng(1), block_rows=5, buffer_blocks=2, keep=keep)
    np.testing.assert_array_equal(np.sort(np.concatenate(bufs)), np.flatnonzero(keep))


def test_rank_shares_tile_the_rows_in_whole_blocks() -> None:
    for size in (1, 2, 3, 7):
        shares = [rank_rows(1000, r, size, block_rows=64) for r in range(size)]
        assert shares[0].start == 0 and shares[-1].stop == 1000
        assert all(a.stop == b.start for a, b in itertools.pairwise(shares))
        assert all(s.start % 64 == 0 for s in shares)


def test_validation_rows_depend_on_the_row_and_seed_only() -> None:
    whole = validation_mask(0.2, 7, 0, 10_000)
    assert 0.18 < whole.mean() < 0.22
    np.testing.assert_array_equal(
        np.concatenate([validation_mask(0.2, 7, 0, 3000), validation_mask(0.2, 7, 3000, 10_000)]),
        whole,
    )
    assert not np.array_equal(validation_mask(0.2, 8, 0, 10_000), whole)
    with pytest.raises(ValueError, match="validation_fraction must be a float in"):
        validation_mask(1.0, 0, 0, 10)
