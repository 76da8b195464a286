"""Identity: which patient, visit and arm every file and plate sample belongs to (DESIGN section 5).

The lab's ``manifest.csv`` and ``subjects.csv`` (:mod:`immunolab.identity.files`) give it; it is
stored as versioned records (:mod:`immunolab.identity.records`) matched to files and plate
samples through keyed hashes of their names (:mod:`immunolab.identity.keys`), so a correction
is a new identity version, never a re-ingest, and no name ever reaches the store.
"""

from immunolab.identity.files import load_manifest, load_subjects
from immunolab.identity.model import (
    DEFAULT_PROTOCOL,
    ManifestEntry,
    Problem,
    Protocol,
    Subject,
    display_label,
    problems_error,
)
from immunolab.identity.study import StudyIdentity, load_identity

__all__ = [
    "DEFAULT_PROTOCOL",
    "ManifestEntry",
    "Problem",
    "Protocol",
    "StudyIdentity",
    "Subject",
    "display_label",
    "load_identity",
    "load_manifest",
    "load_subjects",
    "problems_error",
]
