"""Name things in the report without identifying anyone: samples, plates, files, free text.

- a sample (manifest sample id, or a source's label) is shown as ``patient|Dday`` (the
  pseudonymous patient code and study day), with ``#2``... when one visit has several files;
- a plate is shown by its lab plate code (:func:`immunolab.derive.views.plate_codes`), never by
  its internal id (``6fe21cd50d8c3562-p1``, ``run:BEADRUN-01``);
- a file is shown by its patient|Dday when it is one sample's file, by its plate code when it is
  a plate, else as ``file <first 12 hex of its SHA-256>``; never by name or path, and never by
  its ingest id (which embeds the ingest time, close to the sample's acquisition date);
- free text stored by people or tools (a decision's reason, a commit summary, a gating error)
  goes through :meth:`Naming.scrub`, which replaces every sample id, source label, plate id,
  ingest id and SHA-256 the store knows by the names above, and anything that looks like a file
  name or a date by ``[file]`` / ``[date]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from immunolab.store.read import Store

__all__ = ["Naming", "file_label", "naming_of", "sample_label"]

#: a calendar date or a compact time stamp in free text: replaced by "[date]"
_DATE = re.compile(r"\b(?:\d{4}-\d{2}-\d{2}|\d{1,2}[./]\d{1,2}[./]\d{2,4}|\d{8}T\d{4,6})\b")
#: a token that ends like an instrument or table file: replaced by "[file]"
_FILE_NAME = re.compile(r"[^\s'\"<>|:;,()]+\.(?:fcs|lmd|csv|tsv|txt|xlsx?|xml|wsp|xpt|json|ya?ml|zip)\b",
                        re.IGNORECASE)


def file_label(sha: str) -> str:
    """Return the PHI-free handle of a stored file: ``file`` and the first 12 hex digits of its SHA-256."""
    return f"file {sha[:12]}"


def sample_label(patient_id: Any, visit_day: Any) -> str:
    """Return the pseudonymous name ``patient|Dday`` of a sample (``patient|D?`` without a day)."""
    try:
        day = f"D{int(visit_day)}"
    except (TypeError, ValueError):
        day = "D?"
    return f"{patient_id}|{day}"


@dataclass
class Naming:
    """PHI-safe names of the store's samples, sources and plates (see the module doc)."""

    plate_code: dict[str, str] = field(default_factory=dict)
    sample: dict[str, str] = field(default_factory=dict)  # sample_id -> patient|Dday
    source: dict[str, str] = field(default_factory=dict)  # source_sha256 -> patient|Dday or plate code or ingest id
    _replace: dict[str, str] = field(default_factory=dict)
    _pattern: re.Pattern[str] | None = None

    def plate(self, plate_id: Any) -> str:
        """Return the code of a plate id (unknown ids are shown as ``plate ?``, never raw)."""
        if plate_id is None:
            return ""
        return self.plate_code.get(str(plate_id), "plate ?")

    def of_sample(self, sample_id: Any) -> str:
        """Return the pseudonymous name of a manifest sample id (unknown ids: ``sample ?``)."""
        return self.sample.get(str(sample_id), "sample ?")

    def of_source(self, sha: Any) -> str:
        """Return the name of a stored file by its SHA-256."""
        return self.source.get(str(sha), "file ?")

    def scrub(self, text: Any) -> str:
        """Return ``text`` with every known identifier replaced by its report name, file names dropped."""
        if text is None or (isinstance(text, float) and text != text):
            return ""
        out = str(text)
        if self._pattern is not None:
            out = self._pattern.sub(lambda m: self._replace[m.group(0)], out)
        return _DATE.sub("[date]", _FILE_NAME.sub("[file]", out))

    def finish(self, extra: dict[str, str] | None = None) -> Naming:
        """Build the replacement list (longest identifiers first, so no id is replaced inside another)."""
        pairs: dict[str, str] = {}
        pairs.update(extra or {})
        for pid, code in self.plate_code.items():
            pairs[pid] = code
        pairs.update(self.sample)
        pairs.update(self.source)
        self._replace = {k: v for k, v in pairs.items() if k and k != v and len(k) >= 3}
        if self._replace:
            alternatives = "|".join(re.escape(k) for k in sorted(self._replace, key=len, reverse=True))
            # whole tokens only: a sample id inside a longer id or word is not that sample
            self._pattern = re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])")
        return self


def _dedupe(labels: dict[str, str]) -> dict[str, str]:
    """Return labels with ``#2``, ``#3``... added where several keys share one label."""
    seen: dict[str, int] = {}
    out = {}
    for key in sorted(labels):
        lab = labels[key]
        seen[lab] = seen.get(lab, 0) + 1
        out[key] = lab if seen[lab] == 1 else f"{lab}#{seen[lab]}"
    return out


def naming_of(store: Store) -> Naming:
    """Return the :class:`Naming` of ``store`` (samples from identity, plates from the manifest's codes)."""
    from immunolab.derive.views import plate_codes

    codes = plate_codes(store)
    ident = store.to_pandas("identity_samples", columns=["source_sha256", "sample_key", "sample_id", "patient_id",
                                                         "visit_day"])
    src = store.to_pandas("sources", columns=["source_sha256", "ingest_id", "label"])
    plates = store.to_pandas("cytokine_plates", columns=["source_sha256", "plate_id"])
    plate_of_source = {str(s): codes.get(str(p), "plate ?") for s, p in zip(plates["source_sha256"], plates["plate_id"],
                                                                            strict=True)}
    with_patient = ident[ident["patient_id"].notna()]
    sample = _dedupe({str(sid): sample_label(p, d) for sid, p, d in
                      zip(with_patient["sample_id"], with_patient["patient_id"], with_patient["visit_day"], strict=True)
                      if isinstance(sid, str) and sid})
    files = with_patient[with_patient["sample_key"].fillna("") == ""]
    source = {str(sha): sample.get(str(sid), sample_label(p, d)) for sha, sid, p, d in
              zip(files["source_sha256"], files["sample_id"], files["patient_id"], files["visit_day"], strict=True)}
    ingest_of = dict(zip(src["source_sha256"].astype(str), src["ingest_id"].astype(str), strict=True))
    extra: dict[str, str] = {}
    for sha, ingest in ingest_of.items():
        source.setdefault(sha, plate_of_source.get(sha, file_label(sha)))
        extra[ingest] = source[sha]
    # a plate file's manifest sample id and label are its code already; other labels name the file's sample
    for sha, label in zip(src["source_sha256"].astype(str), src["label"], strict=True):
        if isinstance(label, str) and label and label not in codes.values():
            extra[label] = source.get(sha, file_label(sha))
    plate_sample_ids = ident[ident["patient_id"].isna() & ident["sample_id"].notna()]
    for sid, sha in zip(plate_sample_ids["sample_id"], plate_sample_ids["source_sha256"], strict=True):
        if str(sid) not in codes.values():
            extra[str(sid)] = plate_of_source.get(str(sha), "plate ?")
    # run plates are named "run:<run>": the code is the run itself, so the prefix goes first
    extra.update({pid: code for pid, code in codes.items() if pid.startswith("run:")})
    return Naming(plate_code=codes, sample=sample, source=source).finish(extra)

