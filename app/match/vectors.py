"""Reference vectors stored compactly and read as one float32 matrix.

An installed set's vectors are kept as int8 with one scale per row (``row ≈ values * scale``), a
quarter of float32's size, and memory-mapped, so rows no search touches never occupy memory. The
scale is chosen so every stored row is exactly a unit vector again; what the rounding costs in
similarity and in decisions is measured by ``bench/compact_vectors.py``
(bench/results/compact_vectors.json).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

#: Largest magnitude an int8 component takes; -128 is left unused so the code is symmetric.
I8_LEVELS = 127

FloatRows = npt.NDArray[np.float32]


def quantize_rows(vectors: FloatRows) -> tuple[npt.NDArray[np.int8], FloatRows]:
    """int8 codes and per-row scales of unit vectors: each row's largest component maps to ±127,
    and the scale makes the decoded row a unit vector again (1 / the code's own length)."""
    vectors = np.asarray(vectors, np.float32)
    peak = np.abs(vectors).max(axis=1, keepdims=True) if len(vectors) else np.ones((0, 1), np.float32)
    peak[peak == 0] = 1.0
    codes = np.rint(vectors / peak * I8_LEVELS).astype(np.int8)
    lengths = np.linalg.norm(codes.astype(np.float32), axis=1)
    lengths[lengths == 0] = 1.0
    return codes, (1.0 / lengths).astype(np.float32)


class QuantizedRows:
    """int8 rows and their float32 scales, read as float32 rows (``rows[indices]``)."""

    dtype = np.dtype(np.float32)
    ndim = 2

    def __init__(self, codes: npt.NDArray[np.int8], scales: FloatRows) -> None:
        if codes.ndim != 2 or scales.shape != (codes.shape[0],):
            raise ValueError(f"codes {codes.shape} and scales {scales.shape} do not pair up")
        self.codes = codes
        self.scales = scales

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.codes.shape[0]), int(self.codes.shape[1]))

    def __len__(self) -> int:
        return int(self.codes.shape[0])

    def __getitem__(self, rows: npt.ArrayLike) -> FloatRows:
        picked = np.asarray(rows)
        return (self.codes[picked].astype(np.float32) * self.scales[picked, None]).astype(np.float32, copy=False)

    def dense(self) -> FloatRows:
        return self[np.arange(len(self))]


Rows = FloatRows | QuantizedRows


class StackedRows:
    """Several row blocks (float32 arrays or :class:`QuantizedRows`) read as one matrix, in order,
    without copying them together: memory-mapped blocks stay on disk until a row is asked for."""

    dtype = np.dtype(np.float32)
    ndim = 2

    def __init__(self, blocks: Sequence[Rows | StackedRows], dim: int) -> None:
        self.blocks = [block for block in blocks if len(block)]
        self.dim = dim
        # Per row: its block, its place there and its scale (1 for float32 rows), so a search's few
        # dozen candidates are fetched one row each; the matcher's candidates are spread over many
        # blocks, and one numpy call per row is cheaper than grouping them by block.
        self._raw: list[np.ndarray] = []
        block_of, local, scales = [], [], []
        for number, block in enumerate(self.blocks):
            if isinstance(block, QuantizedRows):
                self._raw.append(np.asarray(block.codes))  # a plain view of the same mapping
                scales.append(np.asarray(block.scales, np.float32))
            elif isinstance(block, StackedRows):
                self._raw.append(block.dense())
                scales.append(np.ones(len(block), np.float32))
            else:
                self._raw.append(np.asarray(block, np.float32))
                scales.append(np.ones(len(block), np.float32))
            block_of.append(np.full(len(block), number, np.int32))
            local.append(np.arange(len(block), dtype=np.int32))
        self._block_of = np.concatenate(block_of or [np.zeros(0, np.int32)])
        self._local = np.concatenate(local or [np.zeros(0, np.int32)])
        self._scales = np.concatenate(scales or [np.zeros(0, np.float32)])

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self._block_of), self.dim)

    def __len__(self) -> int:
        return len(self._block_of)

    def __getitem__(self, rows: npt.ArrayLike) -> FloatRows:
        picked = np.atleast_1d(np.asarray(rows, np.int64))
        if not len(picked):
            return np.zeros((0, self.dim), np.float32)
        raw, blocks, places = self._raw, self._block_of[picked].tolist(), self._local[picked].tolist()
        stacked = np.stack([raw[block][row] for block, row in zip(blocks, places, strict=True)])
        return (stacked.astype(np.float32) * self._scales[picked, None]).astype(np.float32, copy=False)

    def dense(self) -> FloatRows:
        return as_dense(self.blocks, self.dim)


def as_dense(rows: Rows | StackedRows | Sequence[Rows | StackedRows], dim: int | None = None) -> FloatRows:
    """A float32 copy of all rows (for the exact search of a small bundle)."""
    if isinstance(rows, np.ndarray):
        return np.asarray(rows, np.float32)
    if isinstance(rows, QuantizedRows | StackedRows):
        return rows.dense()
    parts = [as_dense(block) for block in rows]
    if not parts:
        return np.zeros((0, dim or 0), np.float32)
    return np.vstack(parts).astype(np.float32)
