"""immunolab: turn an immunology lab's raw instrument files into analysis-ready trial data.

Heavy libraries (flowkit, scanpy, anndata, statsmodels, matplotlib) are imported lazily inside
the functions that need them, so ``import immunolab`` and the CLI start instantly.
"""

from __future__ import annotations

import logging
from typing import Any

logging.getLogger("immunolab").addHandler(logging.NullHandler())

__version__ = "0.1.0"

__all__ = ["__version__", "ingest", "open_store", "to_anndata"]


def open_store(path: Any, **kwargs: Any) -> Any:
    """Open the store at ``path`` (see :class:`immunolab.store.Store`)."""
    from immunolab.store import open_store as _open

    return _open(path, **kwargs)


def ingest(paths: Any, **kwargs: Any) -> Any:
    """Ingest files into a store (see :func:`immunolab.ingest.ingest_paths`)."""
    from immunolab.ingest import ingest_paths
    from immunolab.redact import recorded_reason

    # importing the submodule immunolab.ingest (here or in a script) rebinds this package's `ingest`
    # to it; the module is callable and forwards to this function (immunolab.ingest._CallableModule)
    if kwargs.get("reason"):
        kwargs["reason"] = recorded_reason(kwargs["reason"])  # as the CLI's --reason: no name or date recorded
    return ingest_paths(paths, **kwargs)


_ingest_function = ingest


def to_anndata(store: Any, kind: str = "summary", **kwargs: Any) -> Any:
    """Build an AnnData object from a store (see :mod:`immunolab.anndata_io`)."""
    from immunolab.anndata_io import to_anndata as _to

    return _to(store, kind=kind, **kwargs)
