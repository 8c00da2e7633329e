"""Out-of-core training data: sources read by row ranges, and the seeded mini-batch order.

A :class:`Dataset` is a table of ``n_rows`` rows of ``n_features`` numbers and a target,
read by contiguous row ranges (:meth:`Dataset.read`), never whole:

* :class:`NpyDataset`: a ``.npy`` file (memory-mapped) or an array (a ``np.memmap`` stays
  mapped), with its target (a ``.npy`` file or an array);
* :class:`ParquetDataset`: a Parquet file or a directory of them, read by row groups (its
  parts checked by :func:`open_parts`, the rule ``deltaprop train`` follows too);
* :class:`CSVDataset`: a numeric CSV file, indexed once (the byte offset of every
  ``chunk_rows``-th row) and then read by byte ranges;
* :func:`open_dataset` picks one by the path's suffix (a directory is Parquet).

The rows are cut into logical *blocks* of ``block_rows`` rows **by global row index**
(block ``b`` holds rows ``[b·block_rows, (b+1)·block_rows)``), whatever the files' own
chunking, so no result depends on how a file is chunked. The order of one epoch
(:func:`epoch_buffers`, the exact semantics in its docstring and docs/out-of-core.md):

1. the blocks in a seeded random order;
2. taken ``buffer_blocks`` at a time into a *shuffle buffer*, whose rows are put in a
   seeded random order;
3. the buffers' rows, one buffer after the other, cut into mini-batches of ``batch_size``
   consecutive rows, exactly as an in-memory epoch cuts its permutation (a batch may span
   two buffers; the last batch of the epoch holds the remainder).

When one buffer holds every row the order is the in-memory trainer's
(``rng.permutation(n_rows)``) and a streamed fit is bit-identical to an in-memory one;
``shuffle=False`` gives the rows in order, the in-memory order too.

Under MPI each rank owns a contiguous range of blocks (:func:`rank_rows`) and reads only
those rows; every rank computes the same epoch order, and for each global batch each rank
computes the gradient of the batch's rows it owns, normalised by the whole batch's weight,
and one allreduce sums them (:mod:`deltaprop.parallel`): the global batches are one
process's, so the weights equal one process's up to rounding. The validation rows are
chosen by a hash of the global row index and the seed (:func:`validation_mask`), the same
for any number of ranks.
"""

from deltaprop.data.csv_source import CSVDataset
from deltaprop.data.opening import open_dataset
from deltaprop.data.parquet import ParquetDataset, open_parts
from deltaprop.data.sampler import (
    DEFAULT_BLOCK_ROWS,
    DEFAULT_BUFFER_BLOCKS,
    epoch_buffers,
    rank_rows,
    validation_mask,
)
from deltaprop.data.sources import Dataset, NpyDataset, open_npy

__all__ = [
    "DEFAULT_BLOCK_ROWS",
    "DEFAULT_BUFFER_BLOCKS",
    "CSVDataset",
    "Dataset",
    "NpyDataset",
    "ParquetDataset",
    "epoch_buffers",
    "open_dataset",
    "open_npy",
    "open_parts",
    "rank_rows",
    "validation_mask",
]
