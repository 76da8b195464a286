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
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence

import numpy as np

from immunolab.flow.compensation import SpilloverMatrix, blockwise_matmul
from immunolab.flow.transforms import Transform

__all__ = ["DISPLAY_DTYPE", "ROW_BLOCK", "DisplayColumns", "Preprocess"]

#: dtype of display-scale values handed to the gate methods
DISPLAY_DTYPE = np.dtype(np.float32)
#: events per block: a few channels of a block stay in cache; large enough to keep the Python
#: loop cheap (a 20k-event tube is two blocks)
ROW_BLOCK = 16384

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

    def get(self, columns: Sequence[int]) -> list[np.ndarray]:
        """Return the display values of ``columns`` (computing the missing ones in one pass)."""
        missing = [i for i in dict.fromkeys(columns) if i not in self._done]
        if missing:
            self._compute(missing)
        return [self._done[i] for i in columns]

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
        out = {i: np.empty(self.n, dtype=DISPLAY_DTYPE) for i in columns}
        inv = None
        if comp:
            assert self._inverse is not None
            inv = self._inverse[:, [self._matrix_pos[i] for i in comp]]
        for start in range(0, self.n, ROW_BLOCK):
            rows = slice(start, min(start + ROW_BLOCK, self.n))
            if comp:
                observed = self._block(rows, self._spill_cols)
                product = blockwise_matmul(observed, inv)  # type: ignore[arg-type]
                for k, i in enumerate(comp):
                    out[i][rows] = self.transforms[i].apply(product[:, k])
            if plain:
                values = self._block(rows, plain)
                for k, i in enumerate(plain):
                    out[i][rows] = self.transforms[i].apply(values[:, k])
        self._done.update(out)

    def _block(self, rows: slice, columns: list[int]) -> np.ndarray:
        """Return preprocessed float64 values of ``columns`` for the events in ``rows`` (a copy)."""
        block = np.array(self.events[rows][:, columns], dtype=np.float64, order="C")
        if self.preprocess is not None:
            self.preprocess(block, columns)
        return block
