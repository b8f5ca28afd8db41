"""Evaluation suites (latent prediction vs horizon, linear probe, planning in the real simulator) and their
registry (:mod:`wmhub.eval.suites`). Evaluating a whole run lives in :mod:`wmhub.runs.evaluate`."""
