"""Canonical clinical test codes, their units and the conversion table between reported units.

Every test has one canonical code (LBTESTCD-like, at most 8 characters: ``LYM``, ``CRP``,
``IL6``...), a name, a category (``lab`` / ``vital`` / ``score``) and one canonical unit.
:func:`lookup_test` finds a test by its code, name or a synonym (English lab names and the
Tongji Hospital column names), ignoring case, spacing and hyphens. :func:`converter` returns
the function taking a value in a reported unit to the canonical unit, or raises
``IML-CLIN-004`` naming the test and the unit.

Units convert within one dimension by a factor (and an offset for temperature), e.g.

- cell counts: ``10^9/L`` = ``10^3/uL`` = 1000 ``cells/uL``; ``10^12/L`` = 10^6 ``cells/uL``;
- mass concentration: ``mg/dL`` = 10 ``mg/L``; ``ng/mL`` = ``ug/L``; ``pg/mL`` = ``ng/L``;
- molar <-> mass concentration for tests with a molar mass (glucose, creatinine, bilirubin,
  uric acid, cholesterol, calcium, urea): ``mg/dL`` -> ``mmol/L`` divides by M / 10;
- ``mEq/L`` = ``mmol/L`` x valence for electrolytes;
- D-dimer is reported on a fibrinogen-equivalent (``FEU``) or D-dimer unit (``DDU``) basis;
  FEU is canonical, a bare mass unit is taken as FEU (the row's note says so) and ``DDU`` is
  refused: the FEU/DDU ratio (about 2) depends on the assay.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

import numpy as np

from immunolab.errors import InconsistentInputError
from immunolab.redact import value_shape

__all__ = [
    "TESTS",
    "UNITS",
    "ClinicalTest",
    "Conversion",
    "UnitDef",
    "converter",
    "get_test",
    "lookup_test",
    "normalise_unit",
]


@dataclass(frozen=True)
class UnitDef:
    """A canonical unit: ``base = value * factor + offset`` within its ``dimension``."""

    symbol: str
    dimension: str
    factor: float
    offset: float = 0.0


@dataclass(frozen=True)
class ClinicalTest:
    """One canonical clinical test (unit: the canonical unit's symbol)."""

    code: str
    name: str
    unit: str
    category: str
    synonyms: tuple[str, ...] = ()
    molar_mass: float | None = None  # g/mol, allows molar <-> mass conversion
    valence: int | None = None  # allows mEq/L <-> mmol/L
    basis: str | None = None  # "FEU" for D-dimer


_U = UnitDef
UNITS: dict[str, UnitDef] = {u.symbol: u for u in (
    # cell counts (base: cells per microlitre)
    _U("cells/uL", "count", 1.0), _U("10^3/uL", "count", 1e3), _U("10^9/L", "count", 1e3),
    _U("10^12/L", "count", 1e6), _U("/L", "count", 1e-6),
    # fractions (base: percent)
    _U("%", "percent", 1.0), _U("fraction", "percent", 100.0),
    # mass concentration (base: mg/L)
    _U("g/L", "mass", 1e3), _U("g/dL", "mass", 1e4), _U("mg/dL", "mass", 10.0), _U("mg/L", "mass", 1.0),
    _U("ug/mL", "mass", 1.0), _U("ug/dL", "mass", 1e-2), _U("ug/L", "mass", 1e-3), _U("ng/mL", "mass", 1e-3),
    _U("ng/dL", "mass", 1e-5), _U("ng/L", "mass", 1e-6), _U("pg/mL", "mass", 1e-6),
    # D-dimer on a fibrinogen-equivalent basis (base: mg/L FEU)
    _U("mg/L FEU", "mass_feu", 1.0), _U("ug/mL FEU", "mass_feu", 1.0), _U("ug/L FEU", "mass_feu", 1e-3),
    _U("ng/mL FEU", "mass_feu", 1e-3),
    # molar concentration (base: mmol/L) and equivalents (base: mEq/L)
    _U("mol/L", "molar", 1e3), _U("mmol/L", "molar", 1.0), _U("umol/L", "molar", 1e-3),
    _U("nmol/L", "molar", 1e-6), _U("pmol/L", "molar", 1e-9), _U("mEq/L", "equivalent", 1.0),
    # catalytic activity (base: U/L)
    _U("U/L", "activity", 1.0), _U("ukat/L", "activity", 60.0), _U("nkat/L", "activity", 0.06),
    _U("U/mL", "activity", 1e3),
    # other
    _U("IU/mL", "intl_units", 1.0), _U("mIU/mL", "intl_units", 1e-3),
    _U("s", "time", 1.0), _U("min", "time", 60.0),
    _U("mm/h", "sed_rate", 1.0), _U("fL", "cell_volume", 1.0), _U("pg", "cell_mass", 1.0),
    _U("mmHg", "pressure", 1.0), _U("kPa", "pressure", 7.500616827),
    _U("C", "temperature", 1.0), _U("F", "temperature", 5.0 / 9.0, -160.0 / 9.0),
    _U("beats/min", "per_minute", 1.0), _U("breaths/min", "per_minute", 1.0), _U("/min", "per_minute", 1.0),
    _U("1", "dimensionless", 1.0), _U("score", "score", 1.0), _U("S/CO", "cutoff_index", 1.0),
    _U("mL/min/1.73m2", "gfr", 1.0), _U("L/min", "flow", 1.0),
    _U("kg", "mass_body", 1.0), _U("lb", "mass_body", 0.45359237), _U("cm", "length", 1.0),
    _U("m", "length", 100.0), _U("in", "length", 2.54),
)}

#: spellings (compared after :func:`_unit_key`) of each canonical unit, besides its own symbol
_UNIT_ALIASES: dict[str, tuple[str, ...]] = {
    "cells/uL": ("/uL", "cells/mm3", "/mm3", "10^6/L", "cells/ul", "/µL", "cells/µL"),
    "10^3/uL": ("10^3/mm3", "K/uL", "thou/uL", "10^3 cells/uL"),
    "10^9/L": ("x10^9/L", "10*9/L", "10E9/L", "x10E9/L", "10^9 cells/L"),
    "10^12/L": ("x10^12/L", "10*12/L", "10E12/L", "10^6/uL", "10^6/mm3"),
    "%": ("percent", "pct"),
    "fraction": ("fraction of 1", "v/v"),
    "ug/mL": ("mcg/mL",),
    "ug/L": ("mcg/L",),
    "U/L": ("IU/L",),
    "s": ("sec", "seconds"),
    "mm/h": ("mm/hr",),
    "fL": ("um3",),
    "C": ("°C", "degC", "celsius", "Cel"),
    "F": ("°F", "degF", "fahrenheit"),
    "beats/min": ("bpm", "beats per minute"),
    "breaths/min": ("breaths per minute",),
    "/min": ("min-1", "per min"),
    "1": ("", "ratio", "none", "-", "index"),
    "score": ("points", "pts"),
    "S/CO": ("COI", "cutoff index"),
    "mL/min/1.73m2": ("mL/min/1.73m^2", "mL/min/1.73 m2"),
    "L/min": ("lpm",),
}


def _unit_key(text: str) -> str:
    s = unicodedata.normalize("NFKC", str(text)).replace("µ", "u").replace("μ", "u").replace("×", "x")
    s = re.sub(r"\s+", "", s.strip()).lower()
    s = s.replace("**", "^").replace("10*", "10^").replace("10e", "10^")
    if s.startswith("x10^"):
        s = s[1:]
    return s


_UNIT_INDEX: dict[str, str] = {}
for _sym in UNITS:
    _UNIT_INDEX[_unit_key(_sym)] = _sym
for _sym, _aliases in _UNIT_ALIASES.items():
    for _alias in _aliases:
        _UNIT_INDEX.setdefault(_unit_key(_alias), _sym)


def normalise_unit(text: str | None) -> str | None:
    """Return the canonical symbol of a unit as reported (``"x10E9/L"`` -> ``"10^9/L"``), else None."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return "1"
    return _UNIT_INDEX.get(_unit_key(text))


def _t(code: str, name: str, unit: str, category: str, *syn: str, **kw: object) -> ClinicalTest:
    return ClinicalTest(code, name, unit, category, tuple(syn), **kw)  # type: ignore[arg-type]


#: The canonical tests. Synonyms: English names and the Tongji Hospital (Yan et al. 2020) columns.
TESTS: tuple[ClinicalTest, ...] = (
    # haematology
    _t("WBC", "Leukocytes", "cells/uL", "lab", "White blood cell count", "white blood cells", "leukocyte count"),
    _t("LYM", "Lymphocytes", "cells/uL", "lab", "lymphocyte count", "absolute lymphocyte count", "ALC", "lym#",
       "lymphocytes absolute", "lymph count"),
    _t("LYMPCT", "Lymphocytes/Leukocytes", "%", "lab", "(%)lymphocyte", "lymphocyte %", "lymphocytes %",
       "lymphocyte percentage", "lym%", "LYMLE"),
    _t("NEUT", "Neutrophils", "cells/uL", "lab", "neutrophils count", "neutrophil count", "ANC", "neut#"),
    _t("NEUTPCT", "Neutrophils/Leukocytes", "%", "lab", "neutrophils(%)", "neutrophil %", "neut%", "NEUTLE"),
    _t("MONO", "Monocytes", "cells/uL", "lab", "monocytes count", "monocyte count"),
    _t("MONOPCT", "Monocytes/Leukocytes", "%", "lab", "monocytes(%)", "monocyte %", "MONOLE"),
    _t("EOS", "Eosinophils", "cells/uL", "lab", "Eosinophil count", "eosinophils count"),
    _t("EOSPCT", "Eosinophils/Leukocytes", "%", "lab", "eosinophils(%)", "eosinophil %", "EOSLE"),
    _t("BASO", "Basophils", "cells/uL", "lab", "basophil count(#)", "basophil count", "basophils count"),
    _t("BASOPCT", "Basophils/Leukocytes", "%", "lab", "basophil(%)", "basophil %", "BASOLE"),
    _t("RBC", "Erythrocytes", "10^12/L", "lab", "Red blood cell count", "red blood cells"),
    _t("HGB", "Hemoglobin", "g/L", "lab", "hemoglobin", "haemoglobin", "Hb"),
    _t("HCT", "Hematocrit", "%", "lab", "hematocrit", "haematocrit"),
    _t("MCV", "Ery. Mean Corpuscular Volume", "fL", "lab", "mean corpuscular volume"),
    _t("MCH", "Ery. Mean Corpuscular Hemoglobin", "pg", "lab", "mean corpuscular hemoglobin"),
    _t("MCHC", "Ery. Mean Corpuscular HGB Concentration", "g/L", "lab", "mean corpuscular hemoglobin concentration"),
    _t("RDW", "Erythrocyte Distribution Width (CV)", "%", "lab", "Red blood cell distribution width", "RDW-CV"),
    _t("RDWSD", "Erythrocyte Distribution Width (SD)", "fL", "lab", "RBC distribution width SD", "RDW-SD"),
    _t("PLAT", "Platelets", "10^9/L", "lab", "Platelet count", "platelets", "PLT"),
    _t("MPV", "Mean Platelet Volume", "fL", "lab", "Mean platelet volume"),
    _t("PDW", "Platelet Distribution Width", "fL", "lab", "PLT distribution width", "platelet distribution width"),
    _t("PLCR", "Platelet Large Cell Ratio", "%", "lab", "platelet large cell ratio", "P-LCR"),
    _t("PLTCRIT", "Plateletcrit", "%", "lab", "thrombocytocrit", "plateletcrit", "PCT%"),
    _t("ESR", "Erythrocyte Sedimentation Rate", "mm/h", "lab", "erythrocyte sedimentation rate"),
    _t("CD3", "CD3+ T cells", "cells/uL", "lab", "CD3 count", "CD3+ T cells absolute"),
    _t("CD4", "CD4+ T cells", "cells/uL", "lab", "CD4 count", "CD4+ T cells absolute", "CD4 absolute"),
    _t("CD8", "CD8+ T cells", "cells/uL", "lab", "CD8 count", "CD8+ T cells absolute", "CD8 absolute"),
    # inflammation and cytokines (hospital lab)
    _t("CRP", "C-Reactive Protein", "mg/L", "lab", "C-reactive protein", "High sensitivity C-reactive protein",
       "hs-CRP", "hsCRP"),
    _t("IL6", "Interleukin 6", "pg/mL", "lab", "Interleukin 6", "IL-6"),
    _t("IL2R", "Interleukin 2 Receptor", "U/mL", "lab", "Interleukin 2 receptor", "sIL-2R", "IL-2R"),
    _t("IL8", "Interleukin 8", "pg/mL", "lab", "Interleukin 8", "IL-8"),
    _t("IL10", "Interleukin 10", "pg/mL", "lab", "Interleukin 10", "IL-10"),
    _t("IL1B", "Interleukin 1 beta", "pg/mL", "lab", "Interleukin 1β", "Interleukin 1b", "IL-1β", "IL-1b",
       "IL-1beta"),
    _t("TNFA", "Tumor Necrosis Factor alpha", "pg/mL", "lab", "Tumor necrosis factorα", "TNF-α", "TNF-a",
       "TNF alpha", "tumor necrosis factor alpha"),
    _t("FERRITIN", "Ferritin", "ug/L", "lab", "ferritin", "FERRITN"),
    _t("PROCALCT", "Procalcitonin", "ug/L", "lab", "procalcitonin", "PCT"),
    # coagulation
    _t("DDIMER", "D-Dimer", "mg/L FEU", "lab", "D-D dimer", "D-dimer", "DDIMER FEU", basis="FEU"),
    _t("FDP", "Fibrin Degradation Products", "mg/L", "lab", "Fibrin degradation products"),
    _t("FIBRINO", "Fibrinogen", "g/L", "lab", "fibrinogen"),
    _t("PT", "Prothrombin Time", "s", "lab", "Prothrombin time"),
    _t("PTACT", "Prothrombin Activity", "%", "lab", "Prothrombin activity"),
    _t("INR", "Prothrombin Intl. Normalized Ratio", "1", "lab", "International standard ratio",
       "international normalized ratio"),
    _t("APTT", "Activated Partial Thromboplastin Time", "s", "lab", "Activation of partial thromboplastin time",
       "activated partial thromboplastin time"),
    _t("THROMBT", "Thrombin Time", "s", "lab", "Thrombin time"),
    _t("ANTITHRM", "Antithrombin Activity", "%", "lab", "antithrombin", "antithrombin III"),
    # chemistry
    _t("ALB", "Albumin", "g/L", "lab", "albumin"),
    _t("GLOBUL", "Globulin", "g/L", "lab", "globulin"),
    _t("PROT", "Protein", "g/L", "lab", "total protein"),
    _t("ALT", "Alanine Aminotransferase", "U/L", "lab", "glutamic-pyruvic transaminase", "alanine aminotransferase",
       "GPT", "SGPT"),
    _t("AST", "Aspartate Aminotransferase", "U/L", "lab", "aspartate aminotransferase", "GOT", "SGOT"),
    _t("ALP", "Alkaline Phosphatase", "U/L", "lab", "Alkaline phosphatase"),
    _t("GGT", "Gamma Glutamyl Transferase", "U/L", "lab", "γ-glutamyl transpeptidase",
       "gamma-glutamyl transferase", "gamma-glutamyl transpeptidase"),
    _t("LDH", "Lactate Dehydrogenase", "U/L", "lab", "Lactate dehydrogenase"),
    _t("BILI", "Bilirubin", "umol/L", "lab", "Total bilirubin", molar_mass=584.66),
    _t("BILDIR", "Direct Bilirubin", "umol/L", "lab", "Direct bilirubin", molar_mass=584.66),
    _t("BILIND", "Indirect Bilirubin", "umol/L", "lab", "indirect bilirubin", molar_mass=584.66),
    _t("CREAT", "Creatinine", "umol/L", "lab", "creatinine", molar_mass=113.12),
    _t("UREA", "Urea", "mmol/L", "lab", "urea", molar_mass=60.06),
    _t("URATE", "Urate", "umol/L", "lab", "Uric acid", molar_mass=168.11),
    _t("GLUC", "Glucose", "mmol/L", "lab", "glucose", molar_mass=180.16),
    _t("CHOL", "Cholesterol", "mmol/L", "lab", "Total cholesterol", molar_mass=386.65),
    _t("SODIUM", "Sodium", "mmol/L", "lab", "serum sodium", "Na", valence=1),
    _t("K", "Potassium", "mmol/L", "lab", "Serum potassium", "potassium", valence=1),
    _t("CL", "Chloride", "mmol/L", "lab", "Serum chloride", "chloride", valence=1),
    _t("HCO3", "Bicarbonate", "mmol/L", "lab", "HCO3-", "bicarbonate", valence=1),
    _t("CA", "Calcium", "mmol/L", "lab", "calcium", molar_mass=40.078, valence=2),
    _t("CACORR", "Calcium Corrected for Albumin", "mmol/L", "lab", "Corrected calcium", molar_mass=40.078, valence=2),
    _t("EGFR", "Glomerular Filtration Rate, Estimated", "mL/min/1.73m2", "lab", "eGFR"),
    _t("PH", "pH", "1", "lab", "PH value"),
    _t("TROPONI", "Troponin I", "ng/L", "lab", "Hypersensitive cardiac troponinI", "hs-cTnI",
       "high-sensitivity troponin I"),
    _t("NTPROBNP", "N-Terminal ProB-type Natriuretic Peptide", "ng/L", "lab",
       "Amino-terminal brain natriuretic peptide precursor(NT-proBNP)", "NT-proBNP", "BNPPRONT"),
    # serology and virology (qualitative or index results)
    _t("HBSAG", "Hepatitis B Virus Surface Antigen", "IU/mL", "lab", "HBsAg"),
    _t("HCVAB", "Hepatitis C Virus Antibody", "S/CO", "lab", "HCV antibody quantification"),
    _t("HIVAB", "HIV Antibody", "S/CO", "lab", "HIV antibody quantification"),
    _t("TPAB", "Treponema pallidum Antibody", "S/CO", "lab", "Quantification of Treponema pallidum antibodies"),
    _t("SARSCOV2", "SARS-CoV-2 RNA (coded result)", "1", "lab", "2019-nCoV nucleic acid detection",
       "SARS-CoV-2 RNA", "SARS-CoV-2 PCR"),
    # vital signs and oxygenation
    _t("SPO2", "Oxygen Saturation", "%", "vital", "oxygen saturation", "OXYSAT", "SpO2"),
    _t("PAO2", "Partial Pressure Arterial Oxygen", "mmHg", "vital", "PaO2"),
    _t("FIO2", "Fraction of Inspired Oxygen", "%", "vital", "FiO2"),
    _t("PAO2FIO2", "PaO2/FiO2 Ratio", "mmHg", "vital", "PaO2/FiO2", "P/F ratio", "PF ratio", "Horowitz index"),
    _t("O2FLOW", "Oxygen Flow Rate", "L/min", "vital", "oxygen flow", "O2 flow"),
    _t("TEMP", "Temperature", "C", "vital", "temperature", "body temperature"),
    _t("HR", "Heart Rate", "beats/min", "vital", "heart rate", "PULSE", "pulse rate"),
    _t("RR", "Respiratory Rate", "breaths/min", "vital", "respiratory rate", "RESP"),
    _t("SYSBP", "Systolic Blood Pressure", "mmHg", "vital", "systolic blood pressure"),
    _t("DIABP", "Diastolic Blood Pressure", "mmHg", "vital", "diastolic blood pressure"),
    _t("WEIGHT", "Weight", "kg", "vital", "body weight"),
    _t("HEIGHT", "Height", "cm", "vital", "body height"),
    # clinical scores (ordinal)
    _t("WHOOSCI", "WHO Ordinal Scale for Clinical Improvement", "score", "score", "WHO ordinal scale",
       "WHO-OSCI", "WHO clinical progression scale", "WHO 8-point ordinal scale"),
    _t("NEWS2", "National Early Warning Score 2", "score", "score", "NEWS 2", "NEWS"),
    _t("SOFA", "SOFA Score", "score", "score", "sequential organ failure assessment"),
    _t("CTSCORE", "Chest CT Severity Score", "score", "score", "CT severity score", "chest CT score", "CT score"),
)

_BY_CODE: dict[str, ClinicalTest] = {t.code: t for t in TESTS}


def _name_keys(text: str) -> tuple[str, str]:
    s = unicodedata.normalize("NFKC", str(text)).strip().casefold()
    s = re.sub(r"\s+", " ", s)
    return s, re.sub(r"[\s\-_.]", "", s)


def _build_index() -> tuple[dict[str, str], dict[str, str]]:
    exact: dict[str, str] = {}
    loose: dict[str, str] = {}
    for t in TESTS:
        for label in (t.code, t.name, *t.synonyms):
            k1, k2 = _name_keys(label)
            for index, key in ((exact, k1), (loose, k2)):
                owner = index.setdefault(key, t.code)
                if owner != t.code:
                    raise RuntimeError(f"test label {label!r} names both {owner} and {t.code}")
    return exact, loose


_EXACT, _LOOSE = _build_index()


def get_test(code: str) -> ClinicalTest:
    """Return the canonical test with this code (KeyError when unknown)."""
    return _BY_CODE[code]


def lookup_test(name: str) -> ClinicalTest | None:
    """Return the canonical test named ``name`` (code, name or synonym; case, spaces, hyphens ignored)."""
    k1, k2 = _name_keys(name)
    code = _EXACT.get(k1) or _LOOSE.get(k2)
    return _BY_CODE[code] if code else None


@dataclass(frozen=True)
class Conversion:
    """How a reported unit becomes the canonical unit: ``canonical = value * factor + offset``."""

    unit_reported: str
    unit: str
    factor: float
    offset: float
    note: str | None

    def __call__(self, values: np.ndarray | float) -> np.ndarray | float:
        """Return ``values`` in the canonical unit."""
        return values * self.factor + self.offset


def _bridge(test: ClinicalTest, src: UnitDef, dst: UnitDef) -> float | None:
    """Return base(src) -> base(dst) for dimensions linked through molar mass or valence."""
    molar_mass, valence = test.molar_mass, test.valence
    pairs = {(src.dimension, dst.dimension)}
    if ("mass", "molar") in pairs and molar_mass:
        return 1.0 / molar_mass  # mg/L -> mmol/L
    if ("molar", "mass") in pairs and molar_mass:
        return molar_mass
    if ("equivalent", "molar") in pairs and valence:
        return 1.0 / valence  # mEq/L -> mmol/L
    if ("molar", "equivalent") in pairs and valence:
        return float(valence)
    if ("mass", "mass_feu") in pairs and test.basis == "FEU":
        return 1.0
    return None


def converter(test: ClinicalTest, unit_reported: str | None, *, label: str | None = None) -> Conversion:
    """Return the conversion of ``test`` results from ``unit_reported`` to its canonical unit.

    Raises ``IML-CLIN-004`` (naming the test and the unit) when the unit is unknown, belongs
    to another dimension (a count reported in mg/L) or is a D-dimer ``DDU`` unit.
    """
    text = "" if unit_reported is None or (isinstance(unit_reported, float) and math.isnan(unit_reported)) \
        else str(unit_reported)
    if test.basis == "FEU" and re.search(r"ddu\s*$", text, flags=re.IGNORECASE):
        raise _unit_error(test, text, label, "D-dimer in DDU cannot be converted to FEU by a fixed factor "
                          "(about 2, assay-specific). Report FEU, or convert with the assay's own factor first")
    if not text.strip() and test.unit in ("1", "score"):
        symbol: str | None = test.unit  # scores and ratios are written without a unit
    else:
        symbol = normalise_unit(re.sub(r"\s*feu\s*$", " FEU", text, flags=re.IGNORECASE)) if text else None
    if symbol is None:
        raise _unit_error(test, text, label, "the unit is not in immunolab's unit table "
                          f"(canonical unit of {test.code}: {test.unit}); write it as one of "
                          f"{', '.join(_same_dimension(test))}")
    src, dst = UNITS[symbol], UNITS[test.unit]
    note = None
    if src.dimension == dst.dimension:
        bridge = 1.0
    else:
        b = _bridge(test, src, dst)
        if b is None:
            raise _unit_error(test, text, label, f"{symbol} does not convert to {test.unit} "
                              f"(a {src.dimension} unit for a {dst.dimension} test); check the unit column")
        bridge = b
        if dst.dimension == "mass_feu":
            note = "D-dimer unit did not state FEU or DDU: FEU assumed"
    # value -> base(src) -> base(dst) -> dst
    factor = src.factor * bridge / dst.factor
    offset = (src.offset * bridge - dst.offset) / dst.factor
    return Conversion(text, test.unit, factor, offset, note)


def _same_dimension(test: ClinicalTest) -> list[str]:
    dim = UNITS[test.unit].dimension
    return [u.symbol for u in UNITS.values() if u.dimension == dim]


def _unit_error(test: ClinicalTest, unit: str, label: str | None, hint: str) -> InconsistentInputError:
    # a unit of the unit table is shown as written; any other text only by its shape (it may be a name)
    shown = "(no unit)" if not unit else repr(unit) if normalise_unit(unit) is not None else \
        f"(written as {value_shape(unit)})"
    return InconsistentInputError(
        "IML-CLIN-004", f"unit {shown} of test {test.code} ({test.name}) cannot be read as {test.unit}",
        path=label, hint=hint + ".",
    )

