"""Runs: the typed run directory (`Run`), its results, and what is done with a finished run (push, reproduce)."""
