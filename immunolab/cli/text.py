"""Terminal-safe text: strings read from input files never carry control sequences to a terminal.

An analyte or population name comes from a file someone else wrote. Printed as is, an escape
sequence in it could recolour the terminal, rewrite earlier lines (CSI), set the window title or
plant a hyperlink (OSC), or hide text. :func:`safe` replaces every C0 and C1 control character
(and therefore every ESC-, CSI- and OSC-sequence introducer) by ``?``, keeping tabs as spaces.
"""

from __future__ import annotations

import re

__all__ = ["safe"]

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def safe(text: object) -> str:
    """Return ``text`` as a string with control characters replaced (for terminal output)."""
    s = "" if text is None else str(text)
    return _CONTROL.sub("?", s.replace("\t", " "))
