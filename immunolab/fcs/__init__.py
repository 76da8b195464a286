"""FCS files: read (2.0 / 3.0 / 3.1, multi-data-set LMD), de-identify keywords, write.

The public, typed API::

    from immunolab.fcs import read_fcs

    data = read_fcs("tube.fcs", label="D7 tube 3")   # events (float64), channels, allowlisted keywords

- :mod:`~immunolab.fcs.reader`: ``read_fcs`` / ``read_fcs_metadata`` -> ``FcsData``; every
  malformation is a coded ``IML-FCS-*`` error with an explicit tolerance where one is safe.
- :mod:`~immunolab.fcs.keywords`: the keyword allowlist (``deidentify``): what is dropped is
  named, never its value; dates become study days.
- :mod:`~immunolab.fcs.spillover`: ``$SPILLOVER`` / ``SPILL`` / ``$COMP`` keywords.
- :mod:`~immunolab.fcs.writer`: ``write_fcs`` (FCS 3.1, the demo and test factories).

Names resolve lazily: ``import immunolab.fcs`` imports no numpy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from immunolab._lazy import load_export

if TYPE_CHECKING:
    from immunolab.fcs.channels import (
        FcsChannel,
    )
    from immunolab.fcs.keywords import (
        ALLOWED_KEYWORDS,
        DeidResult,
        deidentify,
    )
    from immunolab.fcs.reader import (
        FcsData,
        read_fcs,
        read_fcs_metadata,
    )
    from immunolab.fcs.spillover import (
        Spillover,
        parse_spillover,
    )
    from immunolab.fcs.writer import (
        build_fcs_bytes,
        write_fcs,
    )

__all__ = [
    "ALLOWED_KEYWORDS",
    "DeidResult",
    "FcsChannel",
    "FcsData",
    "Spillover",
    "build_fcs_bytes",
    "deidentify",
    "parse_spillover",
    "read_fcs",
    "read_fcs_metadata",
    "write_fcs",
]

_EXPORTS: dict[str, str] = {
    "FcsChannel": "immunolab.fcs.channels",
    "ALLOWED_KEYWORDS": "immunolab.fcs.keywords",
    "DeidResult": "immunolab.fcs.keywords",
    "deidentify": "immunolab.fcs.keywords",
    "FcsData": "immunolab.fcs.reader",
    "read_fcs": "immunolab.fcs.reader",
    "read_fcs_metadata": "immunolab.fcs.reader",
    "Spillover": "immunolab.fcs.spillover",
    "parse_spillover": "immunolab.fcs.spillover",
    "build_fcs_bytes": "immunolab.fcs.writer",
    "write_fcs": "immunolab.fcs.writer",
}


def __getattr__(name: str) -> Any:
    """Return public ``name``, importing its module on first use (``import immunolab.fcs`` stays instant)."""
    return load_export(__name__, _EXPORTS, name)
