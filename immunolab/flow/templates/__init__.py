"""The built-in gating templates (YAML files of this folder), listed and read without numpy or scipy."""

from __future__ import annotations

from importlib import resources

__all__ = ["builtin_name", "builtin_names", "builtin_text"]


def builtin_names() -> list[str]:
    """Return the names of the built-in templates (file names without ``.yaml``), sorted."""
    return sorted(p.name[:-5] for p in resources.files(__name__).iterdir() if p.name.endswith(".yaml"))


def builtin_text(name: str) -> str:
    """Return the YAML text of built-in template ``name`` (one of :func:`builtin_names`)."""
    return resources.files(__name__).joinpath(f"{name}.yaml").read_text("utf-8")


def builtin_name(text: str) -> str | None:
    """Return the canonical name of the built-in template ``text`` names (``trial-panel`` or ``trial_panel``), or None."""
    name = text.strip().replace("-", "_")
    return name if name in builtin_names() else None
