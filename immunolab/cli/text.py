"""Terminal-safe text: strings read from input files never carry control sequences to a terminal.

An analyte or population name comes from a file someone else wrote. Printed as is, an escape
sequence in it could recolour the terminal, rewrite earlier lines (CSI), set the window title or
plant a hyperlink (OSC), send device-control strings (DCS, APC, PM, SOS) or hide text. :func:`safe`
replaces each complete escape sequence (7-bit ``ESC ...`` or 8-bit C1 form) by one ``?``, then
every remaining C0 and C1 control character, line and paragraph separator and bidirectional
override by ``?``, keeping tabs as spaces. A line printed by :func:`echo` therefore holds no
control character at all: input text cannot start a new line or move the cursor either.

Every CLI line that may hold text from an input file (names, labels, messages, warnings) is
printed through :func:`echo` or built from :func:`safe` parts; JSON output needs neither, as
``json.dumps`` escapes control characters.
"""

from __future__ import annotations

import re

import click

__all__ = ["echo", "safe"]

#: complete escape sequences: CSI (ESC [ or 0x9b, parameters, intermediates, final byte); control
#: strings OSC / DCS / SOS / PM / APC up to their terminator (BEL, ESC \\ or 0x9c); other ESC sequences
_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)"
    r"|\x1b[\x20-\x2f]*[\x30-\x7e]?"
)
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def safe(text: object) -> str:
    """Return ``text`` as a string with escape sequences and control characters replaced (for terminal output)."""
    s = "" if text is None else str(text)
    return _CONTROL.sub("?", _SEQUENCE.sub("?", s.replace("\t", " ")))


def echo(text: object = "", *, err: bool = False) -> None:
    """Print one terminal-safe line (``text`` through :func:`safe`) on stdout, or stderr with ``err``."""
    click.echo(safe(text), err=err)
