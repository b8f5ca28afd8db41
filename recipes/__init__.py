"""Training recipes (one YAML per checkpoint); shipped as ``toolkit.recipes``."""
