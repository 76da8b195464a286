"""Display-scale channel values for gating, computed on first use in row blocks, dropped after last use.

A gating template needs, per gated channel, the compensated (fluorescence) and transformed
value of every event. Computing them as whole float64 columns, next to a float64 copy of the
events, cost ~7x the size of a float32 event matrix at peak. :class:`DisplayColumns` instead
reads the raw events a block of rows at a time (``ROW_BLOCK`` events), preprocesses only the
channels it needs ($PnE, $PnG, $TIMESTEP; float64), compensates them with one small matrix
product per block (float64, the matrix's inverse computed once), applies the scale transform
(float64) and stores the display value as **float32**: 4 bytes per event and channel, with a
relative rounding of ~6e-8 on a 0-1 display scale, far below the resolution of the densities
the gates are found on. A column is built the first time a gate asks for it and released
after the last gate that uses it, so only a few columns are alive at once.

Compensating any channel reads every detector of the matrix, so building the compensated
columns one request at a time read (and preprocessed) all of them once per request.
:meth:`DisplayColumns.prefetch` builds the new compensated columns of the next requests in the
same pass, whole requests only, while they fit in :data:`PREFETCH_SHARE` of the event matrix's
bytes (3 columns of a 13-channel float32 tube: 3 passes instead of 9 for the trial panel).
Each request still gets its own matrix product, because a one-column product (BLAS gemv) and
a wider one (gemm) can differ in the last bit of float64: the values are the same bits as
built one request at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence

import numpy as np

from immunolab.flow.compensation import SpilloverMatrix, blockwise_matmul
from immunolab.flow.transforms import Transform

__all__ = ["DISPLAY_DTYPE", "PREFETCH_SHARE", "ROW_BLOCK", "DisplayColumns", "Preprocess"]

#: dtype of display-scale values handed to the gate methods
DISPLAY_DTYPE = np.dtype(np.float32)
#: events per block: a few channels of a block stay in cache; large enough to keep the Python
#: loop cheap (a 20k-event tube is two blocks)
ROW_BLOCK = 16384
#: compensated columns built ahead of their request may take up to this share of the event matrix's bytes
PREFETCH_SHARE = 0.25

#: ``preprocess(block, columns)``: undo $PnE / $PnG / $TIMESTEP in place in a float64 block
#: whose column k holds events column ``columns[k]`` (see ``FcsData.preprocess_block``)
Preprocess = Callable[[np.ndarray, Sequence[int]], None]


class DisplayColumns:
    """Lazily computed float32 display values of the channels (events columns) a template uses.

    ``events``: (n_events x n_channels) raw values of any real dtype (float32 as read from the
    file is not copied). ``transforms``: events column -> its scale transform. ``spill``: the
    matrix or None; of the ``compensate`` columns, those whose $PnN it names are compensated.
    ``uses``: events column -> how many gates read it, so that :meth:`release` frees it after
    the last one.
    """

    def __init__(
        self,
        events: np.ndarray,
        channel_names: Sequence[str],
        transforms: Mapping[int, Transform],
        spill: SpilloverMatrix | None,
        uses: Mapping[int, int],
        *,
        compensate: Collection[int] = (),
        preprocess: Preprocess | None = None,
        label: str | None = None,
    ) -> None:
        self.events = events
        self.n = int(events.shape[0])
        self.transforms = dict(transforms)
        self.preprocess = preprocess
        self._left = dict(uses)
        self._done: dict[int, np.ndarray] = {}
        self._spill_cols: list[int] = []
        self._matrix_pos: dict[int, int] = {}
        self._inverse: np.ndarray | None = None
        if spill is not None:
            # the whole matrix must match the file even when few of its channels are gated
            self._spill_cols = spill.channel_indices(channel_names, label=label)
            by_name = {name: k for k, name in enumerate(spill.channels)}
            for i in transforms:
                k = by_name.get(channel_names[i]) if i in compensate else None
                if k is not None:
                    self._matrix_pos[i] = k
            if self._matrix_pos:
                self._inverse = spill.inverse()

    def prefetch(self, requests: Sequence[Sequence[int]]) -> None:
        """Build the compensated columns ``requests[0]`` lacks, with those of the next requests, in one pass.

        ``requests``: the column lists :meth:`get` will be asked for next, in order. Nothing
        happens unless the first one needs a compensated column. The following requests join
        whole, while the columns built stay within :data:`PREFETCH_SHARE` of the event matrix;
        the columns a request shares with an earlier one are not new to it (they stay alive up
        to their last use), and its new compensated columns get one matrix product, as
        :meth:`get` would give them.
        """
        budget = int(PREFETCH_SHARE * self.events.nbytes) // max(self.n * DISPLAY_DTYPE.itemsize, 1)
        groups: list[list[int]] = []
        seen = set(self._done)
        for k, request in enumerate(requests):
            new = [i for i in dict.fromkeys(request) if i not in seen and i in self._matrix_pos]
            if k == 0 and not new:
                return
            if k > 0 and sum(map(len, groups)) + len(new) > budget:
                break
            seen.update(request)
            if new:
                groups.append(new)
        self._compute_groups(groups, [])

    def get(self, columns: Sequence[int]) -> list[np.ndarray]:
        """Return the display values of ``columns`` (computing the missing ones in one pass)."""
        missing = [i for i in dict.fromkeys(columns) if i not in self._done]
        if missing:
            self._compute(missing)
        return [self._done[i] for i in columns]

    def peek(self, column: int) -> np.ndarray:
        """Return the display values of ``column`` without counting a use: kept if alive, else built and not kept."""
        if column in self._done:
            return self._done[column]
        self._compute([column])
        return self._done.pop(column)

    def release(self, columns: Sequence[int]) -> None:
        """Count one use of each of ``columns``; free a column after its last use."""
        for i in columns:
            self._left[i] = self._left.get(i, 1) - 1
            if self._left[i] <= 0:
                self._done.pop(i, None)

    def _compute(self, columns: list[int]) -> None:
        """Build the display values of ``columns`` in one pass over the events, a block of rows at a time."""
        comp = [i for i in columns if i in self._matrix_pos]
        plain = [i for i in columns if i not in self._matrix_pos]
        self._compute_groups([comp] if comp else [], plain)

    def _compute_groups(self, groups: list[list[int]], plain: list[int]) -> None:
        """Build compensated ``groups`` (one matrix product each) and ``plain`` columns in one pass over the events."""
        out = {i: np.empty(self.n, dtype=DISPLAY_DTYPE) for i in (*(i for g in groups for i in g), *plain)}
        invs = []
        if groups:
            assert self._inverse is not None
            invs = [self._inverse[:, [self._matrix_pos[i] for i in g]] for g in groups]
        for start in range(0, self.n, ROW_BLOCK):
            rows = slice(start, min(start + ROW_BLOCK, self.n))
            if groups:
                observed = self._block(rows, self._spill_cols)
                for group, inv in zip(groups, invs, strict=True):
                    product = blockwise_matmul(observed, inv)
                    for k, i in enumerate(group):
                        out[i][rows] = self.transforms[i].apply(product[:, k])
            if plain:
                values = self._block(rows, plain)
                for k, i in enumerate(plain):
                    out[i][rows] = self.transforms[i].apply(values[:, k])
        self._done.update(out)

    def _block(self, rows: slice, columns: list[int]) -> np.ndarray:
        """Return preprocessed float64 values of ``columns`` for the events in ``rows`` (a copy)."""
        # take + astype: the same values as a fancy-indexed copy, ~35 % faster for most of a row's channels
        block = np.take(self.events[rows], columns, axis=1).astype(np.float64, copy=False)
        if self.preprocess is not None:
            self.preprocess(block, columns)
        return block
