"""Error tree of immunolab: every failure a user can meet carries a stable code, a path and a hint.

Codes look like ``IML-FCS-003``: a fixed prefix, a family and a number. A code, once released,
keeps its meaning forever; tests pin every code in ``ERROR_CODES``.

Exit codes (DESIGN section 6): input errors 1, store errors 3, plugin errors 4, internal 70.

Messages must never contain patient-identifying text: name files by their display label
(see :func:`immunolab.identity.display_label`), never by free text read from inside a file.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "ERROR_CODES",
    "RETIRED_CODES",
    "AmbiguousInputError",
    "IdentityError",
    "ImmunolabError",
    "InconsistentInputError",
    "InputError",
    "InternalError",
    "MalformedInputError",
    "PluginError",
    "StoreError",
    "StoreLockedError",
    "UnrecognizedInputError",
]


class ImmunolabError(Exception):
    """Base of every error immunolab raises on purpose.

    ``code`` is stable (``IML-<FAMILY>-<NNN>``), ``path`` names the file (display label, not
    necessarily the on-disk path), ``hint`` tells the user the way out.
    """

    exit_code: int = 1
    kind: str = "error"

    def __init__(
        self,
        code: str,
        message: str,
        *,
        path: str | Path | None = None,
        hint: str | None = None,
    ) -> None:
        self.code = code
        self.message = message
        self.path = str(path) if path is not None else None
        self.hint = hint
        super().__init__(self.format())

    def format(self) -> str:
        """Render ``CODE path: message. hint`` on one line."""
        head = f"{self.code} {self.path}: " if self.path else f"{self.code} "
        text = head + self.message.rstrip()
        if self.hint:
            if not text.endswith((".", "!", "?")):
                text += "."
            text += " " + self.hint.rstrip()
        return text

    def __reduce__(self) -> tuple[object, ...]:
        """Pickle by keywords, so an error raised in a worker process reaches its parent intact."""
        return (_rebuild, (type(self), self.code, self.message, self.path, self.hint), dict(self.__dict__))

    def with_path(self, path: str | Path) -> ImmunolabError:
        """Return this error with ``path`` set (used when a parser did not know the file label)."""
        self.path = str(path)
        self.args = (self.format(),)
        return self

    def to_dict(self) -> dict[str, str | int | None]:
        """Return a JSON-ready description (for ``--json`` output and the audit record)."""
        return {
            "code": self.code,
            "kind": type(self).__name__,
            "exit_code": self.exit_code,
            "path": self.path,
            "message": self.message,
            "hint": self.hint,
        }


def _rebuild(cls: type[ImmunolabError], code: str, message: str, path: str | None, hint: str | None) -> ImmunolabError:
    """Recreate a pickled :class:`ImmunolabError` (see ``__reduce__``)."""
    return cls(code, message, path=path, hint=hint)


class InputError(ImmunolabError):
    """The input is wrong in a way the technician can fix (exit 1)."""

    exit_code = 1


class UnrecognizedInputError(InputError):
    """No installed assay plugin claims the file."""


class AmbiguousInputError(InputError):
    """Several assay plugins claim the file and no ``--assay`` was given."""


class MalformedInputError(InputError):
    """The file does not follow its format (truncated, bad offsets, bad numbers...)."""


class InconsistentInputError(InputError):
    """The file is well-formed but contradicts itself or the study (counts, channels, units)."""


class IdentityError(InputError):
    """Patient/visit cannot be resolved from the manifest and subjects files."""


class StoreError(ImmunolabError):
    """The store is missing, locked, damaged or cannot be written (exit 3)."""

    exit_code = 3


class StoreLockedError(StoreError):
    """Another process holds the store lock longer than the allowed wait."""


class PluginError(ImmunolabError):
    """An assay plugin failed to load or broke its contract (exit 4)."""

    exit_code = 4


class InternalError(ImmunolabError):
    """A bug in immunolab or a plugin (exit 70, please report)."""

    exit_code = 70


#: Every code in use, with a one-line meaning. Tests check that each code raised exists here
#: and that each code here is raised by at least one malformed-input test.
ERROR_CODES: dict[str, str] = {
    # generic input
    "IML-IN-001": "path does not exist or is not readable",
    "IML-IN-002": "no assay plugin recognises the file",
    "IML-IN-003": "several assay plugins claim the file",
    "IML-IN-004": "--assay names a plugin that is not installed",
    "IML-IN-005": "file is empty",
    "IML-IN-006": "a --storage-option is not KEY=VALUE",
    "IML-IN-007": "numeric problem (overflow, invalid value) while processing a file: a warning, values left out",
    "IML-IN-008": "the command's output cannot be written (disk full, file too large, read-only, closed)",
    "IML-IN-009": "a warning without a code of its own (a reader's or derivation's note on a file, a library warning)",
    "IML-IN-010": "an output file or folder holds files immunolab did not write (pass --force or choose another name)",
    "IML-IN-011": "a date lies far outside the trial (study day below -365 or above 3650): study day not stored (a warning)",
    "IML-IN-012": "--supersede names an ingest of the very same bytes, parsed with the same subjects file: nothing to correct (identity apply, derive)",
    "IML-IN-013": "a --reason held a date, a record number or a titled name: recorded with that part replaced (a warning)",
    "IML-IN-014": "--out names a file of another kind than the command writes (AnnData: .h5ad)",
    # identity / manifest / subjects
    "IML-ID-001": "file is not listed in the sample manifest",
    "IML-ID-002": "manifest or subjects file cannot be read or lacks required columns",
    "IML-ID-003": "duplicate rows in the manifest or subjects file",
    "IML-ID-004": "manifest names a patient that is not in the subjects file",
    "IML-ID-005": "visit day is not a protocol visit",
    "IML-ID-006": "patient age is outside the 18-70 inclusion range",
    "IML-ID-007": "bad value in the manifest or subjects file (arm, sex, day, id)",
    "IML-ID-008": "sample names on a plate are not in the manifest",
    "IML-ID-009": "no subjects file given and none found beside the manifest",
    "IML-ID-010": "filename rule is invalid or gives an invalid value",
    "IML-ID-011": "several problems in the manifest or subjects file (all listed at once)",
    "IML-ID-012": "the manifest or subjects file changes stored identity: a --reason is required",
    "IML-ID-013": "the sample (patient, visit, specimen, panel) already has a current result",
    "IML-ID-014": "the file's bytes are already stored as another sample than its manifest row names",
    "IML-ID-015": "identity history: the store has no record of that sample or patient",
    "IML-ID-016": "a subjects column looks identifying (name, date, free text) and is not stored (a warning)",
    "IML-ID-017": "stored samples or patients are not in the manifest/subjects file: kept unchanged (a note)",
    "IML-ID-018": "--supersede names the ingest of another sample than the file's manifest row",
    "IML-ID-019": "a manifest row's plate names no plate file of the manifest (or is given on a file's own row)",
    "IML-ID-020": "a tube was acquired before its manifest visit day: visit_day or Day 0 is wrong (a warning)",
    "IML-ID-021": "a sample is relabelled or ingested onto a visit after its patient's recorded death (a warning)",
    "IML-ID-022": "a manifest row's file name is the name of several stored files of different samples: which one is unclear",
    "IML-ID-023": "a superseding file does not hold every sample of the file it replaces: those leave the analysis (a warning)",
    "IML-ID-024": "another writer changed identity meanwhile and this manifest would undo it: nothing applied",
    # FCS
    "IML-FCS-001": "not an FCS file or unsupported FCS version in HEADER",
    "IML-FCS-002": "HEADER or TEXT offsets are out of range or inconsistent",
    "IML-FCS-003": "$TOT disagrees with the size of DATA",
    "IML-FCS-004": "TEXT segment cannot be parsed (delimiter, escaping, odd keyword count)",
    "IML-FCS-005": "required keyword missing or invalid",
    "IML-FCS-006": "unsupported $DATATYPE / $PnB / $BYTEORD / $MODE combination",
    "IML-FCS-007": "file is truncated: DATA extends beyond the end of the file",
    "IML-FCS-008": "file holds several data sets; choose one with --dataset",
    "IML-FCS-009": "HEADER and TEXT disagree on DATA offsets",
    "IML-FCS-010": "file holds zero events",
    "IML-FCS-011": "channel required by the panel or gating strategy is missing",
    "IML-FCS-012": "spillover matrix is malformed or names unknown channels",
    "IML-FCS-013": "gating strategy file cannot be read or is invalid",
    "IML-FCS-014": "a data-driven gate found no population (density has no valley)",
    "IML-FCS-015": "compensation matrix file cannot be read",
    "IML-FCS-016": "file is truncated inside the HEADER or TEXT segment",
    "IML-FCS-017": "DATA holds values that cannot be decoded (non-numeric ASCII data)",
    "IML-FCS-018": "file holds several data sets; the only FCS 3.x one was read (a warning; --dataset chooses)",
    "IML-FCS-019": "a FlowJo workspace sample's name differs from the FCS file its gates were applied to (a warning)",
    "IML-FCS-020": "two or more fluorescence channels were gated without compensation: the file has no spillover "
                   "matrix and none was given (a warning; every population is flagged uncompensated)",
    "IML-FCS-040": "TEXT segment holds more keywords than the keyword budget (MAX_KEYWORDS)",
    "IML-FCS-041": "float DATA holds NaN or infinity (a warning: events holding them may be left out)",
    "IML-FCS-042": "reading the events would exceed the memory budget (4 x the event matrix > available memory)",
    "IML-FCS-043": "an allowlisted FCS keyword lacks its standard shape (dropped) or holds a date or long text (cleaned): a warning",
    # gating, workspaces, clustering
    "IML-GATE-001": "events cannot be clustered (shape, non-finite values, fewer events than map nodes)",
    # cytokine plates
    "IML-CYT-001": "plate export cannot be parsed (structure / block grammar)",
    "IML-CYT-002": "plate export lacks a required section or column",
    "IML-CYT-003": "bad number in a plate export",
    "IML-CYT-004": "duplicate well / analyte rows in a plate export",
    "IML-CYT-005": "standard curve cannot be fitted",
    "IML-CYT-006": "plate has too few standards for a curve",
    "IML-CYT-007": "spreadsheet cannot be opened",
    "IML-CYT-008": "unknown analyte name (no canonical mapping)",
    "IML-CYT-009": "invalid plate analysis option (curve model, weighting, substitution rule, ranges)",
    "IML-CYT-010": "standards' expected concentrations are not a dilution series and cannot be repaired uniquely",
    "IML-CYT-011": "plate export leaves an analyte's concentration unit blank: unit stored empty, not pg/mL (a warning)",
    "IML-CYT-012": "plate export is incomplete: an assay covers fewer wells than the plate's others, or misses on one plate (a warning)",
    "IML-CYT-013": "xPONENT export's CRC32 trailer does not match the bytes before it: changed after export (a warning)",
    # bead arrays acquired on a flow cytometer (LEGENDplex, CBA, MACSPlex)
    "IML-BEAD-001": "bead kit definition cannot be read or is invalid",
    "IML-BEAD-002": "no bead kit of that name is shipped",
    "IML-BEAD-003": "a channel the bead kit needs (scatter, classifier, reporter) is not in the file",
    "IML-BEAD-004": "no bead population found in a bead-array well",
    "IML-BEAD-005": "bead-array well roles do not fit the wells or the kit",
    "IML-BEAD-006": "bead populations of a well not found or not matched to beads unambiguously (a warning)",
    # store
    "IML-STORE-001": "store folder missing or not an immunolab store",
    "IML-STORE-002": "store lock not obtained in time",
    "IML-STORE-003": "store write failed (disk full, permissions, I/O error)",
    "IML-STORE-004": "store verification found a problem",
    "IML-STORE-005": "store schema version is newer than this immunolab",
    "IML-STORE-006": "supersede names an unknown or already superseded ingest",
    "IML-STORE-007": "table name unknown",
    "IML-STORE-009": "store written by immunolab 0.1 (format 1): run `immunolab store upgrade`",
    "IML-STORE-010": "the store is read-only for this user or mount",
    "IML-STORE-011": "the requested store version does not exist (also: as_of before the first store version)",
    "IML-STORE-012": "time travel asked wrongly: version and as_of together, or as_of not an ISO 8601 date-time",
    "IML-STORE-013": "a requested column is not in the table or view",
    "IML-STORE-014": "vacuum would leave store versions unreadable and was not confirmed (--yes, or --keep-version N)",
    "IML-STORE-015": "the requested store version was vacuumed: data files it needs were deleted",
    "IML-STORE-016": "verify: a file was committed by several ingests (a supersede with its very bytes and subjects file): "
    "both superseded and current in its identity history; reads count its latest ingest",
    "IML-STORE-017": "verify: an interrupted `store compact` left table commits (no rows changed) that no store "
    "version records; `store recover` records them",
    # plugins
    "IML-PLUGIN-001": "plugin failed to load",
    "IML-PLUGIN-002": "plugin broke its contract (bad attributes or output)",
    # analysis, export and report
    "IML-ANA-001": "arm comparison needs exactly two arms in the data",
    "IML-ANA-002": "no measurements match the requested features / measures",
    "IML-ANA-003": "analysis window is not a pair of observed visit days (start < end)",
    "IML-ANA-004": "the store holds no per-event flow data (flow_events) for an events export",
    "IML-ANA-005": "measurements table lacks required columns",
    "IML-ANA-006": "a covariate named for adjustment or balance is not in the data",
    "IML-ANA-007": "absolute count inputs are missing or invalid (beads, volume, lymphocyte count)",
    "IML-ANA-008": "outcome analysis input is inconsistent (arms, event days, patients)",
    "IML-ANA-009": "ADaM variable cannot be written under SAS XPORT v5 rules",
    "IML-ANA-010": "a covariate named for adjustment has no value or one level only in the compared data: a warning, left out",
    "IML-ANA-011": "unknown AnnData kind (summary or events)",
    "IML-ANA-012": "the outcome horizon is after some patients' last contact: censored there, not counted alive (a warning)",
    # derivations and QC decisions
    "IML-DER-001": "no stored file matches the derivation's selection (panel, plate)",
    "IML-DER-002": "the derivation to activate is not in the store",
    "IML-DER-003": "QC decision names an unknown sample, plate, well or file",
    "IML-DER-004": "a superseded plate's curve choice could not be carried over to the plate replacing it (a warning)",
    # clinical data (hospital lab, CRF, SDTM)
    "IML-CLIN-001": "clinical file cannot be read (format, encoding, empty)",
    "IML-CLIN-002": "clinical file lacks a required column or SDTM variable",
    "IML-CLIN-003": "clinical test name has no canonical test code",
    "IML-CLIN-004": "unit unknown or not convertible for the clinical test",
    "IML-CLIN-005": "date in a clinical file is not ISO 8601 or is incomplete",
    "IML-CLIN-006": "patient is not in the subjects file or has no Day 0 date",
    "IML-CLIN-007": "bad value in a clinical file (grade, Y/N flag, study day, event)",
    "IML-CLIN-008": "SDTM dataset is not the domain it was read as",
    "IML-CLIN-009": "clinical results that are not numbers: text kept in value_reported, left out of measurements (a warning)",
    "IML-CLIN-010": "clinical results on study days outside every protocol visit window: kept, no visit measurement (a warning)",
    "IML-CLIN-011": "a later clinical file replaces a different earlier value of the same patient, test and day (a warning)",
    "IML-CLIN-012": "rows of an earlier clinical file are absent from a later export that repeats its other rows: still counted (a warning)",
    # interop (FlowKit, Gating-ML export, readfcs/pytometry layout)
    "IML-INT-001": "the gating strategy holds a gate or transform Gating-ML 2.0 cannot express",
    "IML-INT-002": "the active gating is a data-driven template: it has no fixed gates to export",
    "IML-INT-003": "the sample or panel has no stored file or no successful active gating",
    "IML-INT-004": "the active gating used a compensation matrix file the store does not keep",
    "IML-INT-005": "the FlowKit strategy cannot be converted (not a GatingStrategy, duplicate gate names)",
    "IML-INT-006": "the panel's active gating differs per sample (FlowJo workspace): export one sample",
    # internal
    "IML-INTERNAL-001": "unexpected error inside immunolab or a plugin",
}

#: Codes that were registered but are raised by nothing any more: kept so they are never reused
#: with another meaning (a test checks that none of them is raised).
RETIRED_CODES: dict[str, str] = {
    "IML-STORE-008": "table rows fail schema validation (never raised: rows that break a table's schema are "
    "a plugin's broken contract, IML-PLUGIN-002)",
}
