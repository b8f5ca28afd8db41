"""Dataset card templates (Jinja2), shipped as ``toolkit.dataset_cards``."""
