"""Model card templates (Jinja2), shipped as ``wmhub.model_cards``."""
