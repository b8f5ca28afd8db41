"""Model card templates (Jinja2), shipped as ``toolkit.model_cards``."""
