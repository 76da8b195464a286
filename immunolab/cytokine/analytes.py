"""Map the analyte names instruments print to one canonical id per cytokine, plus its bead region.

Every plate plugin (Luminex xPONENT / INTELLIFLEX, Bio-Plex, MSD, LEGENDplex) calls
:func:`canonical_analyte` (or :func:`resolve_analyte` when it needs the "known" flag) so that
``IL6``, ``IL-6``, ``Hu IL-6 (19)``, ``Interleukin-6`` and ``IL-6 (25)`` all land on ``IL-6``,
and ``TNF-α`` / ``TNF alpha`` / ``TNFa`` on ``TNF-a``.

Rules, in order:

1. Unicode NFKC, trim, collapse blanks; a trailing ``(NN)`` / ``Region NN`` / ``RNN`` (bead
   region, 1-500) is split off and returned as an int.
2. A lookup key is built: lower case, Greek letters and the words alpha/beta/gamma/... become
   ``a``/``b``/``g``..., long names (interleukin, interferon, tumo(u)r necrosis factor ...)
   become their abbreviation, species prefixes (``Hu``, ``Human``, ``h``) are dropped, and every
   character that is not a letter or digit is removed.
3. The key is looked up among the synonyms of :data:`CANONICAL_ANALYTES`; a trailing
   parenthetical alias (``IL-8 (CXCL8)``) is tried on its own when the whole name is unknown,
   and so are the parts of a slashed name (``MCP-1/CCL2``) when they agree.
4. Unknown names are never dropped: they are returned normalised (step 1, upper case so that
   ``pp28`` on one plate and ``PP28`` on the next are one analyte) and ``known`` is False.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "CANONICAL_ANALYTES",
    "AnalyteMatch",
    "analyte_key",
    "canonical_analyte",
    "is_known_analyte",
    "resolve_analyte",
]

#: canonical id -> synonyms (any spelling; keys are built with :func:`analyte_key`).
CANONICAL_ANALYTES: dict[str, tuple[str, ...]] = {
    "IL-1a": ("IL-1a", "IL-1 alpha", "IL1A", "IL-1F1"),
    "IL-1b": ("IL-1b", "IL-1 beta", "IL1B", "IL-1F2"),
    "IL-1RA": ("IL-1RA", "IL-1ra", "IL1RN", "IL-1 receptor antagonist", "IL-1Ra"),
    "IL-2": ("IL-2", "IL2"),
    "IL-2Ra": ("IL-2Ra", "sIL-2Ra", "IL-2R", "sIL-2R", "sCD25", "CD25", "IL-2 receptor alpha"),
    "IL-3": ("IL-3",),
    "IL-4": ("IL-4",),
    "IL-5": ("IL-5",),
    "IL-6": ("IL-6",),
    "IL-7": ("IL-7",),
    "IL-8": ("IL-8", "CXCL8"),
    "IL-9": ("IL-9",),
    "IL-10": ("IL-10",),
    "IL-12p40": ("IL-12p40", "IL-12 (p40)", "IL-12B"),
    "IL-12p70": ("IL-12p70", "IL-12 (p70)", "IL-12"),
    "IL-13": ("IL-13",),
    "IL-15": ("IL-15",),
    "IL-17A": ("IL-17A", "IL-17", "IL-17a"),
    "IL-17F": ("IL-17F",),
    "IL-18": ("IL-18",),
    "IL-21": ("IL-21",),
    "IL-22": ("IL-22",),
    "IL-23": ("IL-23",),
    "IL-27": ("IL-27",),
    "IL-33": ("IL-33",),
    "TNF-a": ("TNF-a", "TNF", "TNFa", "TNF-alpha", "tumor necrosis factor alpha", "TNFSF2"),
    "TNF-b": ("TNF-b", "LT-a", "lymphotoxin alpha", "TNF-beta"),
    "IFN-a2": ("IFN-a2", "IFN-a", "IFN-alpha2", "IFN-alpha", "IFNA2"),
    "IFN-b": ("IFN-b", "IFN-beta", "IFNB1"),
    "IFN-g": ("IFN-g", "IFNG", "IFN-gamma", "interferon gamma"),
    "IFN-l1": ("IFN-l1", "IFN-lambda1", "IL-29", "IFN-lambda"),
    "GM-CSF": ("GM-CSF", "CSF2"),
    "G-CSF": ("G-CSF", "CSF3"),
    "M-CSF": ("M-CSF", "CSF1"),
    "MCP-1": ("MCP-1", "CCL2", "MCAF"),
    "MCP-3": ("MCP-3", "CCL7"),
    "MIP-1a": ("MIP-1a", "CCL3", "MIP-1alpha"),
    "MIP-1b": ("MIP-1b", "CCL4", "MIP-1beta"),
    "RANTES": ("RANTES", "CCL5"),
    "Eotaxin": ("Eotaxin", "CCL11", "Eotaxin-1"),
    "IP-10": ("IP-10", "CXCL10"),
    "MIG": ("MIG", "CXCL9"),
    "I-TAC": ("I-TAC", "CXCL11"),
    "GRO-a": ("GRO-a", "CXCL1", "GRO", "GROalpha"),
    "ENA-78": ("ENA-78", "CXCL5"),
    "MIP-3a": ("MIP-3a", "CCL20"),
    "TARC": ("TARC", "CCL17"),
    "MDC": ("MDC", "CCL22"),
    "Fractalkine": ("Fractalkine", "CX3CL1"),
    "VEGF-A": ("VEGF-A", "VEGF", "VEGFA"),
    "FGF-2": ("FGF-2", "FGF-basic", "bFGF", "FGF basic", "basic FGF"),
    "PDGF-BB": ("PDGF-BB", "PDGFBB"),
    "EGF": ("EGF",),
    "HGF": ("HGF",),
    "TGF-b1": ("TGF-b1", "TGF-beta1", "TGFB1", "TGF-beta"),
    "sCD40L": ("sCD40L", "CD40L", "CD40 ligand", "CD154"),
    "sTNFR1": ("sTNFR1", "sTNF-RI", "TNFR1", "sTNFRI"),
    "sTNFR2": ("sTNFR2", "sTNF-RII", "TNFR2", "sTNFRII"),
    "Granzyme B": ("Granzyme B", "GZMB"),
    "Perforin": ("Perforin", "PRF1"),
    "sFas": ("sFas", "Fas", "CD95"),
    "sFasL": ("sFasL", "FasL", "CD178"),
    "ST2": ("ST2", "sST2", "IL1RL1"),
    "CRP": ("CRP", "C-reactive protein"),
    "Ferritin": ("Ferritin",),
    "Ang-2": ("Ang-2", "Angiopoietin-2", "ANGPT2"),
    "PTX3": ("PTX3", "Pentraxin 3"),
}

_WORDS = [
    (r"tumou?r necrosis factor", "tnf"),
    (r"interleukin", "il"),
    (r"interferon", "ifn"),
    (r"monocyte chemoattractant protein", "mcp"),
    (r"macrophage inflammatory protein", "mip"),
    (r"interferon gamma[- ]induced protein", "ip"),
    (r"granulocyte[- ]macrophage colony[- ]stimulating factor", "gmcsf"),
    (r"granulocyte colony[- ]stimulating factor", "gcsf"),
    (r"macrophage colony[- ]stimulating factor", "mcsf"),
    (r"vascular endothelial growth factor", "vegf"),
    (r"alpha", "a"),
    (r"beta", "b"),
    (r"gamma", "g"),
    (r"lambda", "l"),
    (r"kappa", "k"),
]
_GREEK = str.maketrans({"α": "a", "β": "b", "γ": "g", "λ": "l", "κ": "k", "δ": "d", "ε": "e"})
_SPECIES = re.compile(r"^(?:hu|human|hs|homo sapiens)[\s._:-]+", re.IGNORECASE)
_REGION_SUFFIX = re.compile(
    r"^(?P<name>.*?)[\s_]*(?:\(\s*(?:region\s*|r\s*)?(?P<r1>\d{1,3})\s*\)|[\s_]+(?:region\s*|bead\s*|r)(?P<r2>\d{1,3}))\s*$",
    re.IGNORECASE,
)
_PAREN_ALIAS = re.compile(r"^(?P<name>.*?)\s*\((?P<alias>[^()]*)\)\s*$")


@dataclass(frozen=True)
class AnalyteMatch:
    """The canonical id of a reported analyte name, its bead region and whether it is known."""

    canonical: str
    bead_region: int | None
    known: bool
    reported: str


def _clean_text(reported: str) -> str:
    text = unicodedata.normalize("NFKC", str(reported)).replace("\ufffd", "")
    return " ".join(text.split())


def analyte_key(name: str) -> str:
    """Return the lookup key of an analyte name (lower case, letters and digits only)."""
    text = _clean_text(name).translate(_GREEK).lower()
    text = text.translate(_GREEK)
    for pattern, repl in _WORDS:
        text = re.sub(pattern, repl, text)
    text = _SPECIES.sub("", text)
    return re.sub(r"[^0-9a-z]", "", text)


@lru_cache(maxsize=1)
def _synonym_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for canonical, synonyms in CANONICAL_ANALYTES.items():
        for s in (canonical, *synonyms):
            index.setdefault(analyte_key(s), canonical)
    return index


def _lookup(name: str) -> str | None:
    index = _synonym_index()
    key = analyte_key(name)
    if not key:
        return None
    if key in index:
        return index[key]
    if key.startswith("h") and key[1:] in index and len(key) > 2:  # "hIL-6"
        return index[key[1:]]
    return None


def _split_region(text: str) -> tuple[str, int | None]:
    m = _REGION_SUFFIX.match(text)
    if m and m.group("name").strip():
        region = int(m.group("r1") or m.group("r2"))
        if 1 <= region <= 500:
            return m.group("name").strip(), region
    return text, None


def resolve_analyte(reported: str) -> AnalyteMatch:
    """Return the :class:`AnalyteMatch` of a reported analyte name; never raises, never drops."""
    text = _clean_text(reported)
    name, region = _split_region(text)
    canonical = _lookup(name)
    if canonical is None:
        m = _PAREN_ALIAS.match(name)
        if m:
            canonical = _lookup(m.group("name")) or _lookup(m.group("alias"))
    if canonical is None and "/" in name:  # "MCP-1/CCL2": every known part must agree
        found = {c for c in (_lookup(part) for part in name.split("/")) if c is not None}
        if len(found) == 1:
            canonical = found.pop()
    if canonical is not None:
        return AnalyteMatch(canonical, region, True, str(reported))
    return AnalyteMatch(name.upper(), region, False, str(reported))


def canonical_analyte(reported: str) -> tuple[str, int | None]:
    """Return (canonical analyte id, bead region or None) for a name printed by an instrument.

    Unknown names come back normalised (trimmed, blanks collapsed, upper case, region split
    off); use :func:`resolve_analyte` or :func:`is_known_analyte` to flag them.
    """
    match = resolve_analyte(reported)
    return match.canonical, match.bead_region


def is_known_analyte(name: str) -> bool:
    """Return True when ``name`` (reported or canonical) maps to a canonical analyte."""
    return resolve_analyte(name).known
