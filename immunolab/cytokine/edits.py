"""Find standard wells whose signal is not the one the instrument fitted (edited after the analysis).

An export that prints both the curve and the results lets immunolab check its own reading:
the printed curve at a standard's reported result must give back the standard's net signal.
When it does not, the signal in the file is not the one the instrument used: the export was
edited after the analysis (a re-saved CDC xPONENT plate shows it: well A9's Median differs from
what its Result implies by 27-215 MFI in all three analytes). A refit of such a plate cannot
reproduce the instrument, so the reader says so in a warning; the facts stay as printed.

Units: signals in MFI (or ECL counts), concentrations in the standards' units.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from immunolab.cytokine.curves import StandardCurve

__all__ = ["MFI_TOLERANCE", "REL_TOLERANCE", "edited_standard_warnings"]

#: a standard's net signal may differ from the printed curve at its result by this much (MFI) ...
MFI_TOLERANCE = 2.0
#: ... or by this fraction of the signal (rounding of the printed result), whichever is larger
REL_TOLERANCE = 0.02


def _gaps(std: pd.DataFrame, curve: StandardCurve) -> pd.Series:
    """Return (signal the printed curve gives at each standard's result) - (net signal in the file)."""
    dil = std["dilution"].where(std["dilution"].notna() & (std["dilution"] > 0), 1.0)
    fitted = curve.predict((std["reported_conc"] / dil).to_numpy(dtype=float))
    return pd.Series(fitted - std["net_mfi_reported"].to_numpy(dtype=float), index=std.index)


def edited_standard_warnings(wells: pd.DataFrame, curves: dict[str, StandardCurve]) -> list[str]:
    """Return one PHI-free warning per analyte whose standard wells were changed after the analysis.

    Only analytes with a usable printed curve and standards with a numeric result and net
    signal are checked; wells are named by position (``A9``), never by sample name.
    """
    out: list[str] = []
    for analyte, curve in sorted(curves.items()):
        if not curve.converged or not np.isfinite(list(curve.params().values())).all():
            continue
        std = wells[(wells["analyte"] == analyte) & (wells["sample_type"] == "standard")
                    & wells["reported_conc"].notna() & (wells["reported_conc"] > 0) & wells["net_mfi_reported"].notna()]
        if std.empty:
            continue
        gap = _gaps(std, curve)
        limit = np.maximum(MFI_TOLERANCE, REL_TOLERANCE * std["net_mfi_reported"].abs())
        bad = std[(gap.abs() > limit) | ~np.isfinite(gap)]
        if bad.empty:
            continue
        detail = ", ".join(f"{w} ({g:+.4g})" for w, g in zip(bad["well"], gap[bad.index], strict=True))
        out.append(
            f"{analyte}: standard well(s) {detail}: the printed curve at the instrument's result gives a net "
            "signal that differs from the file's by that much; the file was changed after the analysis, so a "
            "refit cannot reproduce the instrument's results"
        )
    return out
