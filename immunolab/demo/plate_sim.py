"""Simulate the demo trial's serum cytokine plates as Luminex xPONENT CSV exports.

Truth model (per analyte; concentrations in pg/mL, natural-log scale)::

    log c[p, day] = log baseline + b[p] + delta[arm] * (1 - exp(-day / tau[arm])) + e[p, day]

with a patient random effect ``b ~ N(0, 0.45)`` and visit noise ``e ~ N(0, 0.2)``. IL-6, TNF-a,
IFN-g and IP-10 fall faster and further under MSC; IL-10 rises under MSC; IL-1b, IL-8 and
MCP-1 follow the same course in both arms (no arm effect). IL-1b sits near the lowest
standard, so many of its values are censored. :data:`ANALYTES` holds the parameters and
``truth_cytokine_model.json`` (written beside the plates) states which analytes carry an arm
effect.

Plates: 96 wells in xPONENT acquisition order (A1, B1 ... H1, A2 ...): two Background0 wells,
7 standards in duplicate (4-fold dilutions from the top standard: 10000 ... 2.44 pg/mL), Control1 and Control2 in
duplicate, then patient samples in duplicate at dilution 2; all visits of a patient share a
plate (arms interleaved), so plate effects never confound a patient's trajectory. Per plate,
each analyte's signal is a 5PL ``y = A + (B - A) / (1 + (x / C)^D)^F`` with plate-to-plate
variation; the Median adds a background and heteroscedastic noise (4 % multiplicative +
1.5 MFI); bead counts are mostly 50-100 with about 3 % low (20-49).

The instrument-like Result / Avg Result / %CV Replicates sections are computed the xPONENT way
by a fitter independent of :mod:`immunolab.cytokine.curves` (``scipy.optimize.curve_fit``,
weights 1/y^2 on the Net MFI of every standard well), so comparing immunolab's refit with
them is a real cross-check.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from immunolab.demo.xponent_writer import WellRecord, XponentExport, render_xponent_csv

__all__ = ["ANALYTES", "PANEL", "AnalyteModel", "simulate_plates"]

PANEL = "Cytokine-8plex"
KIT = "MILLIPLEX Human Cytokine 8-plex"
N_STANDARDS = 7
DILUTION_STEP = 4.0
SAMPLE_DILUTION = 2.0
WELLS_PER_PLATE = 96
MODEL_FILE = ".truth_cytokine_model.json"
_ROWS = "ABCDEFGH"


@dataclass(frozen=True)
class AnalyteModel:
    """One analyte: header name, bead region, standard top (pg/mL), 5PL shape and trajectories."""

    name: str
    header: str
    region: int
    top_standard: float
    a: float
    b: float
    c: float
    d: float
    f: float
    baseline: float
    delta: tuple[float, float]  # (MSC, control), natural-log change at plateau
    tau: tuple[float, float]  # days

    @property
    def arm_effect(self) -> bool:
        """Return True when the two arms follow different trajectories."""
        return self.delta[0] != self.delta[1] or self.tau[0] != self.tau[1]

    def mean_log(self, arm: str, day: int) -> float:
        """Return the population-mean log concentration (pg/mL) for ``arm`` at ``day``."""
        k = 0 if arm == "MSC" else 1
        return math.log(self.baseline) + self.delta[k] * (1.0 - math.exp(-day / self.tau[k]))


ANALYTES: tuple[AnalyteModel, ...] = (
    AnalyteModel("IL-6", "IL-6 (25)", 25, 10000.0, 4.0, 21000.0, 900.0, -1.10, 0.80, 45.0, (math.log(0.12), math.log(0.45)), (4.0, 14.0)),
    AnalyteModel("IL-10", "IL-10 (22)", 22, 10000.0, 3.0, 18000.0, 1000.0, -1.05, 0.90, 9.0, (math.log(2.6), math.log(0.8)), (3.0, 10.0)),
    AnalyteModel("TNF-a", "TNF-a (45)", 45, 10000.0, 5.0, 24000.0, 1100.0, -1.15, 0.75, 16.0, (math.log(0.30), math.log(0.65)), (5.0, 15.0)),
    AnalyteModel("IFN-g", "IFN-g (43)", 43, 10000.0, 6.0, 20000.0, 900.0, -1.00, 0.95, 14.0, (math.log(0.25), math.log(0.55)), (5.0, 14.0)),
    AnalyteModel("IL-1b", "IL-1b (28)", 28, 10000.0, 3.0, 20000.0, 1000.0, -1.10, 0.85, 5.0, (math.log(0.5), math.log(0.5)), (10.0, 10.0)),
    AnalyteModel("IL-8", "IL-8 (27)", 27, 10000.0, 5.0, 22000.0, 800.0, -1.20, 0.80, 35.0, (math.log(0.6), math.log(0.6)), (12.0, 12.0)),
    AnalyteModel("MCP-1", "MCP-1 (53)", 53, 20000.0, 8.0, 25000.0, 2500.0, -1.05, 0.85, 420.0, (math.log(0.5), math.log(0.5)), (8.0, 8.0)),
    AnalyteModel("IP-10", "IP-10 (48)", 48, 20000.0, 6.0, 23000.0, 3000.0, -1.00, 0.90, 900.0, (math.log(0.2), math.log(0.5)), (5.0, 12.0)),
)
_PATIENT_SD = 0.45
_VISIT_SD = 0.20
_MULT_NOISE = 0.04
_ADD_NOISE = 1.5
_CONTROL_FRACTIONS = (1.0 / 150.0, 1.0 / 12.0)  # of the top standard
_CONTROL_TOLERANCE = 0.30


def _logistic(x: np.ndarray, a: float, b: float, c: float, d: float, f: float) -> np.ndarray:
    xs = np.maximum(np.asarray(x, dtype=float), 1e-12)
    return a + (b - a) / np.power(1.0 + np.power(xs / c, d), f)


def _instrument_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float, float] | None:
    """Fit a 5PL like xPONENT (weights 1/y^2, all standard wells) with plain Levenberg-Marquardt."""
    from scipy.optimize import curve_fit

    sigma = np.where(y == 0, 1.0, np.abs(y))

    def model(xx: np.ndarray, a: float, b: float, logc: float, d: float, f: float) -> np.ndarray:
        return a + (b - a) / np.power(1.0 + np.exp(d * (np.log(xx) - logc)), f)

    best = None
    for d0, f0 in ((-1.0, 1.0), (-1.5, 0.7), (-0.8, 1.5)):
        p0 = [float(y.min()), float(y.max()) * 1.1, float(np.log(np.median(x))), d0, f0]
        try:
            with np.errstate(all="ignore"):
                popt, _ = curve_fit(model, x, y, p0=p0, sigma=sigma, maxfev=20000)
        except (RuntimeError, ValueError):
            continue
        if not np.all(np.isfinite(popt)) or popt[4] <= 0:
            continue
        cost = float(np.sum(((model(x, *popt) - y) / sigma) ** 2))
        if best is None or cost < best[0]:
            best = (cost, popt)
    if best is None:
        return None
    a, b, logc, d, f = (float(v) for v in best[1])
    return a, b, math.exp(logc), d, f


def _instrument_result(net: float, dilution: float, curve: tuple[float, float, float, float, float], lowest: float, highest: float) -> str:
    a, b, c, d, f = curve
    y0, yinf = (a, b) if d < 0 else (b, a)
    if not math.isfinite(net):
        return "NaN"
    if (yinf > y0 and net <= y0) or (yinf < y0 and net >= y0):
        return f"< {lowest:.2f}"
    if (yinf > y0 and net >= yinf) or (yinf < y0 and net <= yinf):
        return f"> {highest:.2f}"
    x = c * ((((b - a) / (net - a)) ** (1.0 / f)) - 1.0) ** (1.0 / d)
    return f"{x * dilution:.2f}"


def _true_concentrations(samples: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    patients = sorted(samples["patient_id"].astype(str).unique())
    effects = {(p, m.name): float(rng.normal(0.0, _PATIENT_SD)) for p in patients for m in ANALYTES}
    rows = []
    for pid, arm, day, name in zip(samples["patient_id"], samples["arm"], samples["visit_day"], samples["sample_name"], strict=True):
        for m in ANALYTES:
            log_c = m.mean_log(str(arm), int(day)) + effects[(str(pid), m.name)]
            log_c += float(rng.normal(0.0, _VISIT_SD))
            rows.append((str(name), m.name, math.exp(log_c)))
    return pd.DataFrame(rows, columns=["sample_name", "analyte", "conc"])


def _plate_groups(samples: pd.DataFrame) -> list[list[str]]:
    """Return sample names per plate: whole patients, arms interleaved, <= 74 wells of samples."""
    capacity = (WELLS_PER_PLATE - 2 - 2 * N_STANDARDS - 4) // 2
    by_arm: dict[str, list[str]] = {}
    for pid, arm in samples.groupby("patient_id", sort=True)["arm"].first().items():
        by_arm.setdefault(str(arm), []).append(str(pid))
    order: list[str] = []
    arms = sorted(by_arm)
    while any(by_arm.values()):
        for arm in arms:
            if by_arm[arm]:
                order.append(by_arm[arm].pop(0))
    plates: list[list[str]] = [[]]
    for pid in order:
        names = samples.loc[samples["patient_id"].astype(str) == pid].sort_values("visit_day")["sample_name"].astype(str).tolist()
        if len(plates[-1]) + len(names) > capacity:
            plates.append([])
        plates[-1].extend(names)
    return [p for p in plates if p]


def _well_name(i: int) -> str:
    return f"{_ROWS[i % 8]}{i // 8 + 1}"


def _simulate_plate(
    index: int, names: list[str], truth: pd.DataFrame, rng: np.random.Generator
) -> tuple[XponentExport, dict[str, object]]:
    layout: list[tuple[str, int | None, float]] = [("Background0", None, 1.0)] * 2
    for std_level in range(1, N_STANDARDS + 1):
        layout += [(f"Standard{std_level}", std_level, 1.0)] * 2
    layout += [("Control1", None, 1.0)] * 2 + [("Control2", None, 1.0)] * 2
    for name in names:
        layout += [(name, None, SAMPLE_DILUTION)] * 2
    conc = truth.set_index(["sample_name", "analyte"])["conc"]
    n_a = len(ANALYTES)
    medians = np.zeros((len(layout), n_a))
    well_conc = np.zeros((len(layout), n_a))
    plate_params = []
    for j, m in enumerate(ANALYTES):
        b = m.b * float(np.exp(rng.normal(0.0, 0.08)))
        c = m.c * float(np.exp(rng.normal(0.0, 0.10)))
        params = (m.a, b, c, m.d, m.f)
        plate_params.append(params)
        background = float(rng.uniform(8.0, 25.0))
        for i, (sample, level, dil) in enumerate(layout):
            x: float
            if sample.startswith("Background"):
                x = 0.0
            elif level is not None:
                x = m.top_standard / DILUTION_STEP ** (level - 1)
            elif sample.startswith("Control"):
                x = m.top_standard * _CONTROL_FRACTIONS[int(sample[-1]) - 1]
            else:
                x = float(conc[(sample, m.name)]) / dil
            well_conc[i, j] = x
            signal = float(_logistic(np.array([x]), *params)[0]) if x > 0 else m.a
            noisy = signal * (1.0 + _MULT_NOISE * rng.standard_normal()) + _ADD_NOISE * rng.standard_normal()
            medians[i, j] = max(1.0, round(2.0 * (background + noisy)) / 2.0)
    counts = rng.integers(50, 101, size=medians.shape)
    low = rng.random(medians.shape) < 0.03
    counts[low] = rng.integers(20, 50, size=int(low.sum()))
    blank_rows = [i for i, (s, _l, _d) in enumerate(layout) if s.startswith("Background")]
    bg_mean = medians[blank_rows].mean(axis=0)
    net = medians - bg_mean
    std_rows = [i for i, (_s, lv, _d) in enumerate(layout) if lv is not None]
    curves: dict[str, str] = {}
    fitted: list[tuple[float, float, float, float, float] | None] = []
    for j, m in enumerate(ANALYTES):
        fit = _instrument_fit(well_conc[std_rows, j], net[std_rows, j])
        fitted.append(fit)
        if fit is not None:
            a, b, c, d, f = fit
            curves[m.header] = f"A={a:.6g}; B={b:.6g}; C={c:.6g}; D={d:.6g}; E={f:.6g}"
    lowest = [m.top_standard / DILUTION_STEP ** (N_STANDARDS - 1) for m in ANALYTES]
    highest = [m.top_standard for m in ANALYTES]
    wells: list[WellRecord] = []
    for i, (sample, level, dil) in enumerate(layout):
        results = []
        for j in range(n_a):
            fit = fitted[j]
            results.append("NaN" if fit is None else _instrument_result(float(net[i, j]), dil, fit, lowest[j], highest[j]))
        expected: list[float | None] | None = None
        if level is not None or sample.startswith("Control"):
            expected = [float(well_conc[i, j]) for j in range(n_a)]
        wells.append(
            WellRecord(
                well=_well_name(i), sample=sample, dilution=dil if not sample.startswith("Background") else None,
                median=[float(v) for v in medians[i]], net_mfi=[float(v) for v in net[i]],
                count=[int(v) for v in counts[i]], result=results, expected=expected,
                warning=bool((counts[i] < 50).any()),
            )
        )
    control_ranges = {}
    for k, frac in enumerate(_CONTROL_FRACTIONS, start=1):
        for m in ANALYTES:
            nominal = m.top_standard * frac
            control_ranges[(f"Control{k}", m.header)] = (nominal * (1 - _CONTROL_TOLERANCE), nominal * (1 + _CONTROL_TOLERANCE))
    run = datetime(2020, 12, 1, 9, 30) + timedelta(days=2 * (index - 1), minutes=int(rng.integers(0, 120)))
    export = XponentExport(
        analytes=[m.header for m in ANALYTES], bead_regions=[m.region for m in ANALYTES], wells=wells,
        serial="FM3DD20990001", batch=f"CYTO_PLATE_{index:02d}", protocol=KIT, operator="A. Tech",
        run_start=run, run_minutes=75, curves=curves, control_ranges=control_ranges,
    )
    info = {
        "plate": index,
        "true_curves": {m.name: dict(zip("abcdf", plate_params[j], strict=True)) for j, m in enumerate(ANALYTES)},
        "instrument_fit_failed": [m.name for j, m in enumerate(ANALYTES) if fitted[j] is None],
    }
    return export, info


def simulate_plates(samples: pd.DataFrame, out_dir: Path, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write the serum samples' plates as xPONENT CSVs into ``out_dir``; return (manifest, truth).

    ``samples`` has the columns ``patient_id, arm, visit_day, sample_name``. The manifest has
    one row per plate file (``file``, a plate code in ``sample_id``, ``panel``) and one per sample (``sample_id`` =
    sample name, ``patient_id``, ``visit_day``, ``specimen`` = serum); the truth has one row
    per sample x analyte (``assay`` cytokine, ``measure`` concentration, pg/mL in serum).
    ``truth.attrs["cytokine_model"]`` and ``out_dir/.truth_cytokine_model.json`` hold the model;
    ``["analytes"][name]["arm_effect"]`` says which analytes carry an arm effect.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    required = {"patient_id", "arm", "visit_day", "sample_name"}
    missing = required - set(samples.columns)
    if missing:
        raise ValueError(f"samples lacks columns {sorted(missing)}")
    samples = samples.copy()
    samples["patient_id"] = samples["patient_id"].astype(str)
    samples["sample_name"] = samples["sample_name"].astype(str)
    truth_conc = _true_concentrations(samples, rng)
    manifest_rows: list[dict[str, object]] = []
    plate_info = []
    for index, names in enumerate(_plate_groups(samples), start=1):
        export, info = _simulate_plate(index, names, truth_conc, rng)
        fname = f"cytokine_plate_{index:02d}.csv"
        text = render_xponent_csv(export)
        tmp = out / (fname + ".tmp")
        tmp.write_bytes(text.encode("utf-8"))
        tmp.replace(out / fname)
        manifest_rows.append({"file": fname, "sample_id": f"PLATE-{index:02d}", "patient_id": None, "visit_day": None, "specimen": None, "panel": PANEL})
        info["file"] = fname
        info["samples"] = len(names)
        plate_info.append(info)
    ordered = samples.sort_values("sample_name")
    for name, pid, day in zip(ordered["sample_name"], ordered["patient_id"], ordered["visit_day"], strict=True):
        manifest_rows.append(
            {"file": None, "sample_id": name, "patient_id": pid, "visit_day": int(day), "specimen": "serum", "panel": None}
        )
    manifest = pd.DataFrame(manifest_rows, columns=["file", "sample_id", "patient_id", "visit_day", "specimen", "panel"])
    manifest["visit_day"] = manifest["visit_day"].astype("Int64")
    keyed = samples.set_index("sample_name")
    truth = truth_conc.assign(
        patient_id=lambda d: d["sample_name"].map(keyed["patient_id"]),
        visit_day=lambda d: d["sample_name"].map(keyed["visit_day"]).astype(int),
        assay="cytokine", feature=lambda d: d["analyte"], measure="concentration", value=lambda d: d["conc"], unit="pg/mL",
    )[["patient_id", "visit_day", "assay", "feature", "measure", "value", "unit"]].reset_index(drop=True)
    model = {
        "model": "log c = log baseline + b_patient + delta[arm] * (1 - exp(-day / tau[arm])) + e_visit",
        "patient_sd": _PATIENT_SD,
        "visit_sd": _VISIT_SD,
        "sample_dilution": SAMPLE_DILUTION,
        "standards": {m.name: [m.top_standard / DILUTION_STEP ** k for k in range(N_STANDARDS)] for m in ANALYTES},
        "analytes": {
            m.name: {
                "arm_effect": m.arm_effect,
                "baseline_pg_ml": m.baseline,
                "fold_change_at_plateau": {"MSC": math.exp(m.delta[0]), "control": math.exp(m.delta[1])},
                "tau_days": {"MSC": m.tau[0], "control": m.tau[1]},
            }
            for m in ANALYTES
        },
        "plates": plate_info,
    }
    # hidden, so that `immunolab ingest plates/` sees only the plate exports
    (out / MODEL_FILE).write_text(json.dumps(model, indent=2, sort_keys=True) + "\n", "utf-8")
    truth.attrs["cytokine_model"] = model
    return manifest, truth

