"""Build the HTML pieces of the report: escaped tables, inline PNG figures, notes and sections.

Every text that reaches the page goes through :func:`esc` (``html.escape`` with quotes), every
table through :func:`table` (pandas ``to_html`` with ``escape=True``), so a reason typed by a
technician or an analyte name with ``<`` cannot inject markup. Figures are PNG data URIs
(:func:`figure`): the file needs no network and no second file.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "Section",
    "ci_text",
    "details",
    "esc",
    "figure",
    "figures",
    "note",
    "num",
    "p_text",
    "png_data_uri",
    "table",
    "warning",
]


@dataclass(frozen=True)
class Section:
    """One section of the report: anchor id, title for the navigation, and its HTML body."""

    id: str
    title: str
    body: str

    def html(self) -> str:
        """Return the section element with its heading."""
        return f"<section id='{esc(self.id)}'><h2>{esc(self.title)}</h2>{self.body}</section>"


def esc(text: Any) -> str:
    """Return ``text`` as escaped HTML text (quotes included); None and NaN become empty."""
    if text is None or (isinstance(text, float) and not np.isfinite(text)):
        return ""
    return html.escape(str(text), quote=True)


def num(x: Any, digits: int = 3) -> str:
    """Return a number with ``digits`` significant digits (thousands separated from 1,000)."""
    if x is None or x is pd.NA:
        return ""
    if isinstance(x, bool | np.bool_):
        return "yes" if x else "no"
    if isinstance(x, int | np.integer):
        return f"{int(x):,}"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if not np.isfinite(v):
        return "" if np.isnan(v) else ("inf" if v > 0 else "-inf")
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.{digits}g}"


def p_text(x: Any) -> str:
    """Return a p- or q-value as text (``<0.001`` below one in a thousand, else 3 decimals)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return ""
    if not np.isfinite(v):
        return ""
    return "<0.001" if v < 0.001 else f"{v:.3f}"


def ci_text(est: Any, lo: Any, hi: Any) -> str:
    """Return ``est (lo to hi)`` with 3 significant digits, empty when any part is missing."""
    vals = []
    for v in (est, lo, hi):
        try:
            vals.append(float(v))
        except (TypeError, ValueError):
            return ""
    if not all(np.isfinite(v) for v in vals):
        return ""
    return f"{vals[0]:#.3g} ({vals[1]:#.3g} to {vals[2]:#.3g})"


def _is_p_column(name: str) -> bool:
    """Return True for a p- or q-value column (``p``, ``q_bh``, ``interaction p adjusted``, ``p (Fisher)``)."""
    tokens = re.split(r"[\s_()]+", name)
    return "p" in tokens or "q" in tokens or name.startswith(("p_", "q_"))


def table(df: pd.DataFrame | None, columns: Sequence[str] | None = None, *, rename: dict[str, str] | None = None,
          formats: dict[str, Callable[[Any], str]] | None = None, empty: str = "(none)",
          css: str = "tbl") -> str:
    """Return ``df`` as an escaped HTML table; p/q columns as p-values, floats with 3 significant digits.

    ``columns`` selects (in order) the columns that exist; ``rename`` renames them for display;
    ``formats`` maps a column to its formatter (applied before escaping).
    """
    if df is None or df.empty:
        return f"<p class='meta'>{esc(empty)}</p>"
    d = df[[c for c in columns if c in df.columns]] if columns else df
    body = pd.DataFrame(index=d.index)
    for c in d.columns:
        f = (formats or {}).get(c)
        if f is None:
            f = p_text if _is_p_column(str(c)) else (num if pd.api.types.is_numeric_dtype(d[c]) else _cell)
        body[c] = [f(v) for v in d[c]]
    body = body.rename(columns=rename or {})
    return body.to_html(index=False, escape=True, border=0, classes=css, na_rep="")


def _cell(v: Any) -> str:
    if v is None or v is pd.NA or (isinstance(v, float) and not np.isfinite(v)):
        return ""
    if isinstance(v, list | tuple | np.ndarray):
        return ", ".join(str(x) for x in v)
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    if isinstance(v, float | np.floating):
        return num(v)
    return str(v)


def png_data_uri(fig: Figure, *, dpi: int = 90) -> str:
    """Return ``fig`` as a ``data:image/png;base64,...`` URI and close it."""
    from immunolab.plotting import png_bytes

    return "data:image/png;base64," + base64.b64encode(png_bytes(fig, dpi=dpi)).decode("ascii")


def figure(fig: Figure, *, alt: str, caption: str, dpi: int = 90, wide: bool = False) -> str:
    """Return a ``<figure>`` with the PNG of ``fig`` inline, its alt text and caption (both escaped)."""
    cls = " class='wide'" if wide else ""
    return (f"<figure{cls}><img alt='{esc(alt)}' src='{png_data_uri(fig, dpi=dpi)}'>"
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def figures(items: Iterable[str]) -> str:
    """Return figure elements laid out side by side (wrapping)."""
    parts = list(items)
    return f"<div class='figs'>{''.join(parts)}</div>" if parts else ""


def note(text: str, *, raw: bool = False) -> str:
    """Return an informational note (``raw``: ``text`` is already HTML)."""
    return f"<p class='note'>{text if raw else esc(text)}</p>"


def warning(text: str, *, raw: bool = False) -> str:
    """Return a visible warning box (``raw``: ``text`` is already HTML)."""
    return f"<div class='warning' role='alert'>{text if raw else esc(text)}</div>"


def details(summary: str, body: str, *, open_: bool = False) -> str:
    """Return a collapsible block titled ``summary`` (escaped) around ``body`` (HTML)."""
    return f"<details{' open' if open_ else ''}><summary>{esc(summary)}</summary>{body}</details>"
