"""Headless rendering of stored physics states (frames are re-rendered, not stored)."""
