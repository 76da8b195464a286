"""Resolve a package's public names on first use, so importing the package stays instant.

The science packages (:mod:`immunolab.cytokine`, :mod:`immunolab.flow`, :mod:`immunolab.fcs`)
declare their public API in ``__all__`` and map each name to the module that defines it; a
name's module (and the heavy libraries it needs) is imported only when the name is first used.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from typing import Any

__all__ = ["load_export"]


def load_export(package: str, exports: Mapping[str, str], name: str) -> Any:
    """Return public ``name`` of ``package`` from its module (cached on the package); AttributeError if none."""
    module = exports.get(name)
    if module is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    setattr(sys.modules[package], name, value)
    return value
