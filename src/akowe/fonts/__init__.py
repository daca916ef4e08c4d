"""Fonts an account uploads (TTF/OTF) for its templates to use by family name."""
