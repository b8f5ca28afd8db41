"""Test support: the small reference datasets and the Hub-compatible test server (not part of the wmhub package)."""
