"""matplotlib for every figure of the package: the non-GUI Agg backend and PNG encoding.

Modules that draw (bead QC, gating QC, report) import matplotlib through :func:`pyplot`, so a
figure never needs a display, and encode through :func:`png_bytes`, which also closes the
figure (pyplot keeps no reference to it afterwards).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["png_bytes", "pyplot"]


def pyplot() -> Any:
    """Return ``matplotlib.pyplot`` on the Agg backend (imported on first use)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def png_bytes(fig: Figure, *, dpi: int = 100) -> bytes:
    """Return ``fig`` as PNG bytes and close it."""
    plt = pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()
