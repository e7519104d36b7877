"""Random train/validation/test splits, reproducible from a seed."""

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from e3core.data._dataset import AtomsDataset


def _counts(n: int, sizes: Sequence[int | float | None]) -> list[int]:
    """The number of items in each split (see split_indices)."""
    if isinstance(sizes, (int, float)) or not len(sizes):
        raise ValueError(f"sizes is {sizes!r}, expected a sequence such as (0.8, 0.1, 0.1)")
    rest = [k for k, s in enumerate(sizes) if s is None]
    if len(rest) > 1:
        raise ValueError(f"sizes is {list(sizes)}: at most one None (the rest) is allowed")
    given = [s for s in sizes if s is not None]
    for k, s in enumerate(sizes):
        if s is not None and (isinstance(s, bool) or not isinstance(s, (int, float, np.number))):
            raise TypeError(f"sizes[{k}] is {s!r}, expected a count, a fraction or None")
        if s is not None and s < 0:
            raise ValueError(f"sizes[{k}] is {s}, expected a count or fraction >= 0")
    ints = [isinstance(s, (int, np.integer)) for s in given]
    if given and not all(ints) and any(ints):
        raise ValueError(
            f"sizes is {list(sizes)}: give all counts (ints) or all fractions (floats), not a mix"
        )
    if given and not all(ints):
        total = float(sum(given))
        if total > 1.0 + 1e-9:
            raise ValueError(f"sizes is {list(sizes)}: the fractions sum to {total}, more than 1")
        counts = [int(np.floor(s * n + 1e-9)) for s in given]
        if not rest and abs(total - 1.0) < 1e-9:
            # fractions that sum to 1 use every item: the remainder goes one by one to the splits
            for k in range(n - sum(counts)):
                counts[k % len(counts)] += 1
    else:
        counts = [int(s) for s in given]
        if sum(counts) > n:
            raise ValueError(f"sizes is {list(sizes)}: {sum(counts)} items asked, only {n} exist")
    if rest:
        counts.insert(rest[0], n - sum(counts))
    return counts


def split_indices(
    n: int, sizes: Sequence[int | float | None], seed: int = 0
) -> tuple[np.ndarray, ...]:
    """Disjoint random index arrays (int64, each sorted) of ``range(n)``, one per entry of
    ``sizes``: counts (ints), or fractions of ``n`` (floats; fractions that sum to 1 use every
    index, others are rounded down), and at most one ``None`` for all that remain. The same
    ``n``, ``sizes`` and ``seed`` give the same splits on any machine (numpy's PCG64).

    Example::

        >>> train, val, test = split_indices(10, (0.6, 0.2, 0.2), seed=1)
        >>> len(train), len(val), len(test), sorted(np.concatenate([train, val, test]).tolist())
        (6, 2, 2, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
        >>> [len(s) for s in split_indices(130831, (110000, 10000, None))]
        [110000, 10000, 10831]
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"split_indices: n is {n!r}, expected a count >= 0")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"split_indices: seed is {seed!r}, expected an int")
    counts = _counts(int(n), sizes)
    order = np.random.default_rng(int(seed)).permutation(int(n))
    bounds = np.concatenate([[0], np.cumsum(counts)])
    return tuple(
        np.sort(order[a:b]).astype(np.int64) for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    )


def random_split(
    dataset: Any, sizes: Sequence[int | float | None], seed: int = 0
) -> tuple[Any, ...]:
    """``dataset`` split at random into disjoint datasets of ``sizes`` (see ``split_indices``,
    which gives the indices; keep them, e.g. with ``save_split``, to reproduce a run).

    Example::

        >>> train, val, test = random_split(load_qm9_sample(), (800, 100, None), seed=0)
        >>> len(train), len(val), len(test)
        (800, 100, 100)
    """
    from e3core.data._density_dataset import DensityDataset

    if not isinstance(dataset, (AtomsDataset, DensityDataset)):
        raise TypeError(
            f"random_split: dataset is {type(dataset).__name__}, expected an AtomsDataset or a "
            "DensityDataset"
        )
    return tuple(dataset.subset(idx) for idx in split_indices(len(dataset), sizes, seed))


_SPLIT_NAMES = ("train", "val", "test")


def save_split(path: str | os.PathLike, *indices: np.ndarray) -> None:
    """Writes index arrays to an ``.npz`` file as ``train_idx``, ``val_idx``, ``test_idx``
    (SchNetPack's split-file names; a fourth and later as ``split3_idx`` ...).

    Example::

        >>> import tempfile, os
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     save_split(os.path.join(tmp, "split.npz"), *split_indices(5, (3, 2)))
        ...     [a.tolist() for a in load_split(os.path.join(tmp, "split.npz"))]
        [[2, 3, 4], [0, 1]]
    """
    names = [f"{_SPLIT_NAMES[k]}_idx" if k < 3 else f"split{k}_idx" for k in range(len(indices))]
    np.savez(
        path,
        **{name: np.asarray(a, dtype=np.int64) for name, a in zip(names, indices, strict=True)},
    )


def load_split(path: str | os.PathLike) -> tuple[np.ndarray, ...]:
    """The index arrays written by ``save_split`` (or a SchNetPack ``split.npz``), in order.

    Example::

        >>> import tempfile, os
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     save_split(os.path.join(tmp, "s.npz"), np.array([1, 2]), np.array([0]))
        ...     [a.tolist() for a in load_split(os.path.join(tmp, "s.npz"))]
        [[1, 2], [0]]
    """
    with np.load(path, allow_pickle=False) as data:
        names = [f"{n}_idx" for n in _SPLIT_NAMES if f"{n}_idx" in data.files]
        k = 3
        while f"split{k}_idx" in data.files:
            names.append(f"split{k}_idx")
            k += 1
        if not names:
            raise ValueError(
                f"{os.fspath(path)!r} has none of train_idx, val_idx, test_idx: not a split file"
            )
        return tuple(data[name].astype(np.int64) for name in names)
