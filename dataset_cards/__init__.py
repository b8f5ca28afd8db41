"""Dataset card templates (Jinja2), shipped as ``wmhub.dataset_cards``."""
