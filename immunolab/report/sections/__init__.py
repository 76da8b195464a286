"""The sections of the HTML report, one module each; every module exposes ``section(data) -> Section``.

Order on the page: :mod:`.header` (what this report is of: store version, software, active
derivations, exclusions), :mod:`.cohort`, :mod:`.arms`, :mod:`.clinical`, :mod:`.cytokines`,
:mod:`.flow`, :mod:`.provenance`.
"""
