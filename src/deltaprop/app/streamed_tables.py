"""Streaming preprocessing: a table that no process holds whole, fitted and transformed.

:func:`stream_table` does for a streamed input (:mod:`deltaprop.app.stream_sources`) what
the in-memory path does with :class:`~deltaprop.app.preprocessing.Preprocessor` (a
collective call: every rank of ``comm`` calls it, each reading only its share):

1. **Read** (one pass over the rank's chunks): the column kinds are read from the
   table's first rows (:meth:`~deltaprop.app.stream_sources.ChunkSource.head`;
   ``categorical`` forces categories) and checked on every row
   (:class:`~deltaprop.app.stream_kinds.KindTally`: the in-memory rule on the whole
   table; a column of numbers that turns out mostly text is read again as categories). Rows without a
   target are left out. Numbers go as float64 into a raw matrix in the work folder, the
   categories as codes of the rank's own dictionaries, the target beside them.
2. **Split**: a row is held out for validation when a seeded hash of its global row
   number (in file order, after the rows without a target) falls below ``validation``:
   the split is the same for any number of ranks (it is not the in-memory path's
   stratified split).
3. **Fit** on the training rows, reduced over the ranks (only small statistics travel):
   exact medians (:class:`~deltaprop.app.stream_stats.MedianSelect`), exactly rounded means
   and variances (:class:`~deltaprop.app.stream_stats.ExactSums`), category sets as sorted
   unions, the class list and the detected task (:func:`deltaprop.app.tasks.detect_task`'s
   rules on counts). The result is a fitted ``Preprocessor`` independent of the number of
   ranks, bit for bit; against ``Preprocessor.fit_transform`` of the same table the
   medians and categories are equal and the means and scales agree to rounding (scikit-learn
   sums in float64 in its own order, these sums are exact).
4. **Transform** into C-ordered float64 ``.npy`` files of the rank's rows (training and
   validation apart), with :meth:`Preprocessor.transform`'s arithmetic.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from deltaprop.app.columns import category_strings, is_numeric
from deltaprop.app.csv_shards import share_failure
from deltaprop.app.errors import DataError
from deltaprop.app.input_notes import drop_index_columns
from deltaprop.app.preprocessing import MISSING_CATEGORY, Preprocessor, TargetScaler
from deltaprop.app.stream_kinds import KindTally
from deltaprop.app.stream_sources import open_source
from deltaprop.app.stream_stats import ExactSums, MedianSelect, RowHash, allgather, allsum
from deltaprop.app.tables import check_numeric_text, no_column_message
from deltaprop.app.tasks import MAX_CLASSES, check_classes, label_flags, task_from_counts

if TYPE_CHECKING:
    from deltaprop.parallel import MPICommunicator

__all__ = ["BLOCK_ROWS", "StreamedTable", "stream_table", "validation_mask"]

BLOCK_ROWS = 1 << 14
"""The rows of the work matrices processed at a time."""


@dataclass
class StreamedTable:
    """A streamed table, fitted and transformed: this rank's rows in ``.npy`` files.

    Attributes
    ----------
    pre : Preprocessor
        Fitted on the training rows of every rank.
    task, task_reason : str
    classes : ndarray or None
        The sorted labels of a classification target (int64 or str).
    n_rows, n_dropped, n_train, n_val : int
        Over all ranks: rows with a target, rows left out, training and validation rows.
    X_train, y_train, X_val, y_val : Path
        This rank's rows: C-ordered float64 features, labels or float64 targets.
    scaler : TargetScaler or None
        For a regression target with ``scale_target``.
    folder : Path
        The work folder (removed by :meth:`cleanup`).
    fingerprint : str
        Of every row read, in file order, the same for any number of ranks
        (:class:`~deltaprop.app.stream_stats.RowHash` of the rows' pandas hashes): what a
        checkpoint recognises the data by.
    """

    pre: Preprocessor
    task: str
    task_reason: str
    classes: np.ndarray | None
    n_rows: int
    n_dropped: int
    n_train: int
    n_val: int
    X_train: Path
    y_train: Path
    X_val: Path
    y_val: Path
    folder: Path
    scaler: TargetScaler | None = None
    fingerprint: str = ""
    left_out: list[str] = field(default_factory=list)  # row-index columns, as in memory
    empty: list[str] = field(default_factory=list)  # columns without a value, as in memory

    def load(self, part: str) -> tuple[np.ndarray, np.ndarray]:
        """``(X, y)`` of ``"train"`` or ``"val"``, memory-mapped (read-only)."""
        X = np.load(getattr(self, f"X_{part}"), mmap_mode="r")
        y = np.load(getattr(self, f"y_{part}"), mmap_mode="r")
        return X, y

    def cleanup(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def validation_mask(rows: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Whether each global row number is held out: a splitmix64 hash of ``(seed, row)``
    below ``fraction`` (the same answer on any rank).

    Examples
    --------
    >>> validation_mask(np.arange(8), 0.5, 0).tolist() == validation_mask(np.arange(8), 0.5, 0).tolist()
    True
    """
    with np.errstate(over="ignore"):
        z = np.asarray(rows, dtype=np.uint64) + np.uint64((seed * 0x9E3779B97F4A7C15) % 2**64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53 < fraction


class _Codes:
    """A rank's dictionary of category strings: codes in order of first appearance."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}

    def encode(self, values: np.ndarray) -> np.ndarray:
        codes, uniques = pd.factorize(values)
        ids = np.array([self.index.setdefault(str(u), len(self.index)) for u in uniques])
        return ids[codes].astype(np.int32) if len(ids) else np.zeros(len(values), np.int32)

    @property
    def strings(self) -> list[str]:
        return list(self.index)


def stream_table(
    path: Path,
    target: str,
    folder: Path,
    *,
    categorical: list[str] | tuple[str, ...] = (),
    ignore: list[str] | tuple[str, ...] = (),
    na_values: list[str] | tuple[str, ...] = (),
    validation: float = 0.0,
    seed: int = 0,
    task: str = "auto",
    scale_target: bool = False,
    center_target: bool = True,
    comm: MPICommunicator | None = None,
) -> StreamedTable:
    """Read, split, fit and transform a streamed input (see the module); collective.

    Parameters
    ----------
    path : Path
        A directory (Parquet files, or ``.npy`` arrays), a ``.npy`` or a CSV file.
    target : str
    folder : Path
        A new work folder for this rank's files (created; the caller removes it with
        :meth:`StreamedTable.cleanup`). Give each rank its own.
    categorical, ignore, na_values, validation, seed, task, scale_target
        As the options of ``deltaprop train``.
    center_target : bool, default=True
        With ``scale_target``, subtract the mean too (not for a Poisson loss:
        :meth:`TargetScaler.fit`).
    comm : MPICommunicator, optional

    Raises
    ------
    DataError
        A missing column, a numeric column with text, no target values, a single class.
    """
    source = open_source(path, na_values=list(na_values), comm=comm)
    cols = source.columns
    for name, option in [(target, "--target"), *[(c, "--ignore") for c in ignore],
                         *[(c, "--categorical") for c in categorical]]:  # fmt: skip
        if name not in cols:
            raise DataError(no_column_message(name, cols, path, option))
    head = check_numeric_text(source.head(), path, skip=categorical)
    features = [c for c in cols if c != target and c not in ignore]
    index = drop_index_columns(head[[c for c in features if c not in categorical]])[1]
    features = [c for c in features if c not in index]  # as the table in memory (its head)
    if not features:
        raise DataError(f"'{path}' has no feature columns besides the target {target!r}")
    numeric = [c for c in features if is_numeric(head[c]) and c not in categorical]
    cats = [c for c in features if c not in numeric]
    target_numeric = is_numeric(head[target]) and target not in categorical
    source.text_columns = (*cats, *([] if target_numeric else [target]))
    as_numbers = [*numeric, *([target] if target_numeric else [])]
    kinds = KindTally(as_numbers, [c for c in source.text_columns if c not in categorical])
    folder.mkdir(parents=True)
    pre = Preprocessor(numeric, cats)
    reader = Preprocessor(numeric + ([target] if target_numeric else []), cats)

    # 1. read: this rank's rows into the work folder
    codes = [_Codes() for _ in cats]
    ycodes = _Codes()
    n_local = dropped = 0
    present = np.zeros(len(numeric), np.int64)  # each numeric column's values
    rows_hash = RowHash()
    failure: Exception | None = None  # any rank's, raised on every rank (none left waiting)
    try:
        with open(folder / "raw.bin", "wb") as raw, open(folder / "codes.bin", "wb") as cf, \
                open(folder / "y.bin", "wb") as yf:  # fmt: skip
            for chunk in source.chunks():
                chunk.columns = cols
                chunk.index = pd.RangeIndex(n_local + dropped, n_local + dropped + len(chunk))
                inputs = reader.prepare(kinds.add(chunk, n_local + dropped))
                if target_numeric:
                    y = inputs[target].to_numpy(dtype=np.float64)
                    keep = ~np.isnan(y)
                else:
                    ys = category_strings(chunk[target])
                    keep = ~pd.isna(ys)
                seen = inputs if target_numeric else inputs.assign(**{target: ys})
                rows_hash.add(pd.util.hash_pandas_object(seen, index=False).to_numpy(np.uint64))
                dropped += int((~keep).sum())
                n_local += int(keep.sum())
                block = np.ascontiguousarray(inputs.loc[keep, numeric].to_numpy(np.float64))
                present += (~np.isnan(block)).sum(axis=0)
                raw.write(block.data)
                if cats:
                    block = np.stack(
                        [c.encode(np.where(pd.isna(v := inputs[name].to_numpy(object)[keep]),
                                           MISSING_CATEGORY, v))
                         for c, name in zip(codes, cats, strict=True)], axis=1,
                    )  # fmt: skip
                    cf.write(np.ascontiguousarray(block, dtype=np.int32).data)
                if target_numeric:
                    yf.write(np.ascontiguousarray(y[keep]).data)
                else:
                    yf.write(ycodes.encode(ys[keep]).data)
    except Exception as exc:
        failure = exc
    share_failure(comm, failure, path)

    # 2. split by global row number
    counts = allgather(comm, (n_local, dropped))
    rank = 0 if comm is None else comm.rank
    offset = sum(c[0] for c in counts[:rank])
    n_rows, n_dropped = sum(c[0] for c in counts), sum(c[1] for c in counts)
    fingerprint = rows_hash.reduce(comm)
    before = sum(c[0] + c[1] for c in counts[:rank])
    late = kinds.result(comm, before, path)
    if late:  # columns of numbers in the first rows, mostly text in all: read as categories
        shutil.rmtree(folder)
        return stream_table(
            path, target, folder, categorical=[*categorical, *late], ignore=ignore,
            na_values=na_values, validation=validation, seed=seed, task=task,
            scale_target=scale_target, center_target=center_target, comm=comm,
        )  # fmt: skip
    empty = [c for c, p in zip(numeric, allsum(comm, present), strict=True) if p == 0]
    empty += [c for c, k in zip(cats, codes, strict=True)  # only the imputed category
              if not set().union(*allgather(comm, k.strings)) - {MISSING_CATEGORY}]  # fmt: skip
    if empty:  # left out, as in memory (input_notes.drop_empty_columns)
        _drop_columns(folder / "raw.bin", np.float64, n_local, numeric, empty)
        _drop_columns(folder / "codes.bin", np.int32, n_local, cats, empty)
        codes = [k for c, k in zip(cats, codes, strict=True) if c not in empty]
        numeric, cats = ([c for c in cs if c not in empty] for cs in (numeric, cats))
        pre, empty = Preprocessor(numeric, cats), [c for c in features if c in empty]
    if not numeric and not cats:
        raise DataError(f"'{path}' has no feature column with a value besides the target")
    Xraw = _matrix(folder / "raw.bin", np.float64, n_local, len(numeric))
    C = _matrix(folder / "codes.bin", np.int32, n_local, len(cats))
    yraw = np.memmap(folder / "y.bin", dtype=np.float64 if target_numeric else np.int32,
                     mode="r", shape=(n_local,)) if n_local else np.empty(0)  # fmt: skip
    if n_rows == 0:
        raise DataError(f"the target column {target!r} of '{path}' has no values")
    val = np.zeros(n_local, bool)
    if validation > 0:
        for i in _blocks(n_local):
            rows = np.arange(offset + i, offset + min(i + BLOCK_ROWS, n_local))
            val[i : i + BLOCK_ROWS] = validation_mask(rows, validation, seed)
    n_val = int(allsum(comm, np.array([val.sum()], np.int64))[0])
    from deltaprop.train import MIN_VALIDATION_ROWS

    if n_val < MIN_VALIDATION_ROWS:
        val[:] = False
        n_val = 0
    train = ~val

    # 3. fit: task and classes, medians, means, scales, categories
    task_name, reason, classes = _task(yraw, ycodes, target, target_numeric, task, path, comm)
    _fit_numeric(pre, Xraw, train, comm)
    pre.categories = []
    for j, c in enumerate(codes):
        seen = np.flatnonzero(np.bincount(C[train, j], minlength=len(c.index)))
        local = [c.strings[k] for k in seen]
        pre.categories.append(sorted(set().union(*allgather(comm, local))))
    pre.fitted = True
    scaler = None
    if task_name == "regression" and scale_target:
        scaler = _target_scaler(np.asarray(yraw)[train], comm, center_target)

    # 4. transform: this rank's rows, C-ordered
    table = StreamedTable(
        pre, task_name, reason, classes, n_rows, n_dropped, n_rows - n_val, n_val,
        folder / "X_train.npy", folder / "y_train.npy", folder / "X_val.npy",
        folder / "y_val.npy", folder, scaler, fingerprint, index, empty,
    )  # fmt: skip
    for part, mask in (("train", train), ("val", val)):
        _write_part(table, part, mask, Xraw, C, yraw, codes, ycodes, target_numeric)
    del Xraw, C, yraw
    for name in ("raw.bin", "codes.bin", "y.bin"):
        (folder / name).unlink()
    return table


def _matrix(file: Path, dtype: Any, n: int, k: int) -> np.ndarray:
    if n == 0 or k == 0:
        return np.empty((n, k), dtype)
    return np.memmap(file, dtype=dtype, mode="r", shape=(n, k))


def _blocks(n: int) -> range:
    return range(0, n, BLOCK_ROWS)


def _drop_columns(file: Path, dtype: Any, n: int, columns: list[str], drop: list[str]) -> None:
    """Rewrite the raw ``n``-row matrix ``file`` of ``columns`` without ``drop``, by blocks."""
    keep = [j for j, c in enumerate(columns) if c not in drop]
    if len(keep) == len(columns):  # none of these columns is dropped: the file stays
        return
    old, new = _matrix(file, dtype, n, len(columns)), file.with_suffix(".new")
    with open(new, "wb") as f:
        for i in _blocks(n):
            f.write(np.ascontiguousarray(old[i : i + BLOCK_ROWS][:, keep]).data)
    del old
    new.replace(file)


def _fit_numeric(pre: Preprocessor, Xraw: np.ndarray, train: np.ndarray, comm: Any) -> None:
    k = Xraw.shape[1]
    present = np.zeros(k, np.int64)
    sums = ExactSums(k)
    for i in _blocks(len(Xraw)):
        X = Xraw[i : i + BLOCK_ROWS][train[i : i + BLOCK_ROWS]]
        present += (~np.isnan(X)).sum(axis=0)
        sums.add(X)
    present = allsum(comm, present)
    n = int(allsum(comm, np.array([train.sum()], np.int64))[0])
    select = MedianSelect(present)
    while not select.done:
        select.start_round()
        for i in _blocks(len(Xraw)):
            select.add(Xraw[i : i + BLOCK_ROWS][train[i : i + BLOCK_ROWS]])
        select.end_round(comm)
    median = select.medians()
    total = sums.reduce(comm).fractions()
    # the mean after imputation: the missing values count as the median
    mean = np.array([float((t + (n - int(p)) * Fraction(float(m))) / max(n, 1))
                     for t, p, m in zip(total, present, median, strict=True)])  # fmt: skip
    dev, dev2 = ExactSums(k), ExactSums(k)
    for i in _blocks(len(Xraw)):
        X = Xraw[i : i + BLOCK_ROWS][train[i : i + BLOCK_ROWS]]
        X = np.where(np.isnan(X), median, X) - mean
        dev.add(X)
        dev2.add(X * X)
    s1, s2 = dev.reduce(comm).fractions(), dev2.reduce(comm).fractions()
    var = np.array(
        [float((b - a * a / max(n, 1)) / max(n, 1)) for a, b in zip(s1, s2, strict=True)]
    )
    eps = np.finfo(np.float64).eps
    constant = var <= n * eps * var + (n * mean * eps) ** 2  # scikit-learn's test
    scale = np.sqrt(var)
    scale[constant | (scale < 10 * eps)] = 1.0
    if not (np.isfinite(mean).all() and np.isfinite(scale).all()):
        j = int(np.flatnonzero(~(np.isfinite(mean) & np.isfinite(scale)))[0])
        raise DataError(
            f"column {pre.numeric[j]!r} cannot be standardized: its mean or spread overflows"
        )
    pre.median, pre.mean, pre.scale = median, mean, scale


def _target_scaler(y: np.ndarray, comm: Any, center: bool = True) -> TargetScaler:
    """``TargetScaler.fit`` of the training targets of every rank, exactly rounded."""
    from deltaprop.app.preprocessing import power_of_two_unit

    n = int(allsum(comm, np.array([len(y)], np.int64))[0])
    s = ExactSums(1)
    s.add(y[:, None])
    mean = float(s.reduce(comm).fractions()[0] / n)
    dev = y - mean  # squared in units of the largest (a power of two): no overflow near 1e308
    unit = power_of_two_unit(max(allgather(comm, float(np.abs(dev).max(initial=0.0)))))
    d = ExactSums(1)
    d.add(((dev / unit) ** 2)[:, None])
    std = unit * math.sqrt(float(d.reduce(comm).fractions()[0] / n))
    scale = std if std > 0 and math.isfinite(std) else 1.0
    return TargetScaler(mean if center else 0.0, scale, center)


def _task(
    yraw: np.ndarray, ycodes: _Codes, target: str, numeric: bool, task: str, path: Path, comm: Any
) -> tuple[str, str, np.ndarray | None]:
    """The task (as :func:`deltaprop.app.tasks.detect_task` decides it, from reduced counts)
    and the sorted class list."""
    name = repr(target)
    if not numeric:
        labels = np.array(sorted(set().union(*allgather(comm, ycodes.strings))))
        if task == "regression":
            raise DataError(
                f"regression needs a numeric target, but {name} of '{path}' holds {labels[0]!r}"
            )
        reason = "set by --task" if task != "auto" else f"{name} holds text, booleans or categories"
        check_classes(labels, target, path)
        return "classification", reason, labels
    finite = whole = small = True
    distinct: set[float] | None = set()
    for i in _blocks(len(yraw)):
        y = np.asarray(yraw[i : i + BLOCK_ROWS])
        finite = finite and bool(np.isfinite(y).all())
        block_whole, block_small = label_flags(y)
        whole, small = whole and block_whole, small and block_small
        if distinct is not None:
            distinct.update(np.unique(y[np.isfinite(y)]).tolist())
            if len(distinct) > MAX_CLASSES + 1 and task != "classification":
                distinct = None  # regression: the count no longer matters
    local = None if distinct is None else sorted(distinct)
    flags = allgather(comm, (finite, whole, small, local, len(yraw)))
    finite, whole, small = (all(f[k] for f in flags) for k in range(3))
    values = (
        None if any(f[3] is None for f in flags) else sorted(set().union(*[f[3] for f in flags]))
    )
    reason = "set by --task"
    if task == "auto":
        n_unique = None if values is None else len(values)
        task, reason = task_from_counts(name, sum(f[4] for f in flags), finite, whole, small,
                                        n_unique)  # fmt: skip
    if task == "regression":
        if not finite:
            raise DataError(f"the target {name} of '{path}' holds an infinite value")
        return task, reason, None
    assert values is not None
    labels = np.array(values, dtype=np.int64 if finite and whole and small else np.float64)
    check_classes(labels, target, path)
    return task, reason, labels


def _write_part(
    table: StreamedTable, part: str, mask: np.ndarray, Xraw: np.ndarray, C: np.ndarray,
    yraw: np.ndarray, codes: list[_Codes], ycodes: _Codes, target_numeric: bool,
) -> None:  # fmt: skip
    """Write the rows of ``mask`` transformed (C-ordered float64) and their targets."""
    pre = table.pre
    n_out = len(pre.feature_names)
    X = np.lib.format.open_memmap(
        getattr(table, f"X_{part}"), "w+", np.float64, (int(mask.sum()), n_out)
    )
    maps = [
        pd.Index(cats, dtype=object).get_indexer(pd.Index(c.strings, dtype=object))
        for c, cats in zip(codes, pre.categories, strict=True)
    ]
    widths = np.cumsum([len(pre.numeric), *(len(c) for c in pre.categories)])
    at = 0
    for i in _blocks(len(mask)):
        keep = mask[i : i + BLOCK_ROWS]
        raw = Xraw[i : i + BLOCK_ROWS][keep]
        out = np.zeros((len(raw), n_out))
        num = np.where(np.isnan(raw), pre.median, raw)
        num -= pre.mean
        num /= pre.scale
        out[:, : len(pre.numeric)] = num
        block = C[i : i + BLOCK_ROWS][keep]
        for j, m in enumerate(maps):
            g = m[block[:, j]] if len(m) else np.full(len(raw), -1)
            known = np.flatnonzero(g >= 0)
            out[known, widths[j] + g[known]] = 1.0
        X[at : at + len(raw)] = out
        at += len(raw)
    X.flush()
    del X
    names = np.array(ycodes.strings, dtype=str)
    if table.task == "classification" and not target_numeric:
        kind: Any = names.dtype if len(names) else np.dtype("<U1")
    elif table.task == "classification":
        kind = table.classes.dtype if table.classes is not None else np.dtype(np.float64)
    else:
        kind = np.dtype(np.float64)
    Y = np.lib.format.open_memmap(getattr(table, f"y_{part}"), "w+", kind, (int(mask.sum()),))
    at = 0
    for i in _blocks(len(mask)):
        y = np.asarray(yraw[i : i + BLOCK_ROWS])[mask[i : i + BLOCK_ROWS]]
        Y[at : at + len(y)] = names[y] if kind.kind == "U" else y.astype(kind)
        at += len(y)
    Y.flush()
    del Y
