"""Evaluation suites: latent prediction quality vs horizon, and planning in the real simulator."""
