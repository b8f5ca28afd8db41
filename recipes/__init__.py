"""Training recipes (one YAML per checkpoint); shipped as ``wmhub.recipes``."""
