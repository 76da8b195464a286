"""FCS plugin: flow cytometry list-mode files (FCS 2.0, 3.0, 3.1, 3.2; Beckman ``.lmd``).

Detection reads the HEADER only: a file whose first bytes are ``FCS<d>.<d>`` is claimed
(``FCS2.0``/``3.0``/``3.1``/``3.2`` are read; other versions are claimed too so that parsing can
say "unsupported FCS version" instead of "unknown file"). Parsing lives in
:mod:`immunolab_assays.fcs.parse` (imported only by :meth:`FcsPlugin.parse`).

Options read from ``ctx.options``: ``dataset`` (0-based data set of a multi-data-set file),
``accept_offset_error`` and ``accept_tot_mismatch`` (explicit tolerances, off by default).
"""

from __future__ import annotations

import re
from pathlib import Path

from immunolab.plugins import Detection, ParseContext, ParsedAssay, PluginOption

__all__ = ["FcsPlugin"]

_HEADER = re.compile(rb"^FCS(\d)\.(\d)")
_SUPPORTED = ("2.0", "3.0", "3.1", "3.2")


class FcsPlugin:
    """Read FCS files into one ``fcs_files`` row (and flow tables once the flow pipeline exists)."""

    name = "fcs"
    version = "1.0.0"
    assay_kind = "flow"
    file_extensions = (".fcs", ".lmd")
    produces = ("fcs_files",)
    options = (
        PluginOption("accept_offset_error", "bool", "FCS: tolerate HEADER/TEXT DATA offset disagreements (recorded)."),
        PluginOption("accept_tot_mismatch", "bool", "FCS: read the events DATA holds when $TOT disagrees (recorded)."),
        PluginOption("dataset", "int", "FCS/LMD: which data set of a multi-data-set file (0-based)."),
    )

    def detect(self, head: bytes, filename: str) -> Detection | None:
        """Claim a file whose first bytes are an FCS HEADER; pure and never raises."""
        try:
            match = _HEADER.match(bytes(head[:6]))
        except Exception:
            return None
        if match is None:
            return None
        version = f"{match.group(1).decode()}.{match.group(2).decode()}"
        if version in _SUPPORTED:
            return Detection(self.name, f"FCS{version}", "HEADER starts with FCS" + version)
        return Detection(self.name, f"FCS{version} (unsupported)", "HEADER starts with an FCS version tag")

    def parse(self, path: Path, ctx: ParseContext) -> ParsedAssay:
        """Read the FCS file at ``path`` (raises only coded input errors)."""
        from immunolab_assays.fcs.parse import parse_fcs_file

        return parse_fcs_file(path, ctx, plugin_version=self.version)
