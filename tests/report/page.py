"""Read a report the way a test needs it: sections by id, their tables as string DataFrames, images, text.

A small ``html.parser`` walker (no browser, no lxml): every table is kept with the section it is
in, its cells as the text a reader sees (entities decoded), so tests compare displayed values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

import pandas as pd


@dataclass
class Part:
    """One section of the page: its tables, images (src, alt), headings and text."""

    tables: list[pd.DataFrame] = field(default_factory=list)
    images: list[tuple[str, str]] = field(default_factory=list)
    headings: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)

    def joined(self) -> str:
        """Return the section's visible text as one string."""
        return " ".join(self.text)

    def table_with(self, *columns: str) -> pd.DataFrame:
        """Return the first table holding every one of ``columns``."""
        for t in self.tables:
            if all(c in t.columns for c in columns):
                return t
        raise AssertionError(f"no table with columns {columns}; have {[list(t.columns) for t in self.tables]}")


class Page(HTMLParser):
    """Parse a report into :class:`Part` per section id (text before the first section is ``_top``)."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: dict[str, Part] = {"_top": Part()}
        self.current = "_top"
        self.ids: set[str] = set()
        self.external: list[str] = []
        self.forbidden: list[str] = []
        self._rows: list[list[str]] | None = None
        self._cell: list[str] | None = None
        self._heading: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(str(a["id"]))
        if tag == "section" and a.get("id"):
            self.current = str(a["id"])
            self.parts.setdefault(self.current, Part())
        if tag in ("script", "link", "iframe", "object", "embed"):
            self.forbidden.append(tag)
        for key in ("src", "href"):
            v = a.get(key)
            if v is not None and not (v.startswith("data:") or v.startswith("#")):
                self.external.append(v)
        if tag == "img":
            self.parts[self.current].images.append((a.get("src") or "", a.get("alt") or ""))
        elif tag == "table":
            self._rows = []
        elif tag == "tr" and self._rows is not None:
            self._rows.append([])
        elif tag in ("td", "th") and self._rows is not None:
            self._cell = []
        elif tag in ("h2", "h3", "h4"):
            self._heading = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._rows:
            self._rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table" and self._rows is not None:
            rows = [r for r in self._rows if r]
            if rows:
                self.parts[self.current].tables.append(pd.DataFrame(rows[1:], columns=rows[0]))
            self._rows = None
        elif tag in ("h2", "h3", "h4") and self._heading is not None:
            self.parts[self.current].headings.append(" ".join("".join(self._heading).split()))
            self._heading = None
        elif tag == "section":
            self.current = "_top"

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._heading is not None:
            self._heading.append(data)
        self.parts[self.current].text.append(data)

    def __getitem__(self, section: str) -> Part:
        return self.parts[section]

    def all_images(self) -> list[tuple[str, str]]:
        """Return every image of the page."""
        return [img for p in self.parts.values() for img in p.images]

    def all_tables(self) -> list[pd.DataFrame]:
        """Return every table of the page."""
        return [t for p in self.parts.values() for t in p.tables]
