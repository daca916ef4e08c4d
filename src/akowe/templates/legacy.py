"""Designs saved before font families were checked, and how they keep drawing.

Until fonts could be uploaded, a field could name any family: generic and common brand
names were drawn with the bundled family of their kind ("Arial" and "Helvetica" with Noto
Sans, "Times New Roman" and "Georgia" with Noto Serif) and anything else with Noto Sans.
Such designs (template versions with NULL `font_keys`) keep drawing exactly that way, so
certificates already issued re-render the same and the template keeps issuing; reads flag
each such field in `warnings`, and the next change of the fields must name a bundled or
uploaded family (a 400 naming the field, like any new design).
"""

from __future__ import annotations

from akowe.rendering.fields import TEXT_FIELD_TYPES
from akowe.rendering.fonts import is_known_family

# The alias table the renderer used when these designs were saved.
_LEGACY_ALIASES = {
    **dict.fromkeys(
        ("sans", "sans-serif", "arial", "helvetica", "inter", "roboto", "open sans", "noto"),
        "Noto Sans",
    ),
    **dict.fromkeys(
        ("serif", "times", "times new roman", "georgia", "garamond", "playfair display"),
        "Noto Serif",
    ),
}


def legacy_family(field_type: str, family: str) -> str:
    """The family a field of a pre-check design is drawn with (its own when available)."""
    if field_type not in TEXT_FIELD_TYPES or is_known_family(family):
        return family
    key = " ".join(family.lower().replace("_", " ").split())
    return _LEGACY_ALIASES.get(key, "Noto Sans")
