"""The identity records: trial protocol, subjects, manifest rows and the problems found in them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from immunolab.errors import IdentityError

__all__ = ["DEFAULT_PROTOCOL", "ManifestEntry", "Problem", "Protocol", "Subject", "display_label", "problems_error"]


@dataclass(frozen=True)
class Protocol:
    """Trial rules the identity files are checked against."""

    visit_days: tuple[int, ...] = (0, 3, 6, 10, 14, 28, 90, 180)
    min_age: int = 18
    max_age: int = 70
    arms: tuple[str, ...] = ("MSC", "control")
    infusion_days: tuple[int, ...] = (0, 3, 6)


DEFAULT_PROTOCOL = Protocol()


@dataclass(frozen=True)
class Problem:
    """One problem of one line of the manifest or subjects file (coded, PHI-free)."""

    code: str
    file: str  # "manifest" / "subjects"
    line: int
    message: str
    hint: str = ""

    def text(self) -> str:
        """Return ``subjects line 4: ...`` with the hint."""
        where = f"{self.file} line {self.line}" if self.line else self.file
        tail = f" {self.hint}" if self.hint else ""
        return f"{where}: {self.message}.{tail}"


def problems_error(problems: list[Problem], path: str | Path | None = None) -> IdentityError:
    """Return one coded error listing every problem (its own code when there is only one)."""
    if len(problems) == 1:
        p = problems[0]
        return IdentityError(p.code, f"{p.file} line {p.line}: {p.message}" if p.line else p.message,
                             path=path, hint=p.hint or None)
    lines = "; ".join(p.text() for p in problems[:40])
    more = f"; and {len(problems) - 40} more" if len(problems) > 40 else ""
    codes = sorted({p.code for p in problems})
    code = codes[0] if len(codes) == 1 else "IML-ID-011"
    return IdentityError(code, f"{len(problems)} problems ({', '.join(codes)}): {lines}{more}", path=path,
                         hint="Fix these lines and run again; every problem is listed, not only the first.")


@dataclass(frozen=True)
class Subject:
    """One trial participant (pseudonymous): arm and covariates. ``day0_date`` never leaves identity."""

    patient_id: str
    arm: str
    site: str
    age: int
    sex: str
    day0_date: date | None = field(default=None, repr=False)
    severity: str | None = None
    covariates: tuple[tuple[str, str], ...] = ()

    def covariate_dict(self) -> dict[str, str]:
        """Return the extra covariate columns of the subjects file (name -> text)."""
        return dict(self.covariates)


@dataclass(frozen=True)
class ManifestEntry:
    """One manifest row: an instrument file and/or a sample with its patient and visit."""

    line: int
    file: str | None
    sample_id: str | None
    patient_id: str | None
    visit_day: int | None
    specimen: str | None
    panel: str | None
    sample_name: str | None = field(default=None, repr=False)
    assay: str | None = None
    extra: tuple[tuple[str, str], ...] = ()
    problems: tuple[Problem, ...] = ()
    #: the plate a plate sample's name belongs to (that plate's manifest ``sample_id`` or file name); None: any plate
    plate: str | None = field(default=None, repr=False)

    @property
    def is_patient_sample(self) -> bool:
        """Return True when the row names a patient and a visit."""
        return self.patient_id is not None and self.visit_day is not None

    @property
    def ok(self) -> bool:
        """Return True when the row has no problem."""
        return not self.problems

    def get(self, column: str) -> str | None:
        """Return the value of an optional extra column (e.g. ``run``, ``well_role``)."""
        return dict(self.extra).get(column)


def display_label(path: Path, sha256: str | None, entry: ManifestEntry | None) -> str:
    """Return a PHI-safe label for a file: its manifest sample id, or a short content hash.

    File names may hold patient names, so they never appear in logs, the store or default CLI output.
    A manifest row with problems is not trusted for a label either (its sample id may be the name it
    was refused as): such a file is named by its hash, and the problems name the manifest line.
    """
    if entry is not None and entry.sample_id and not entry.problems:
        return entry.sample_id
    if sha256:
        return f"file:{sha256[:12]}"
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    return f"path:{digest}"
