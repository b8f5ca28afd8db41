"""Test helpers: a local Hugging Face Hub-compatible server for offline tests.

See :mod:`wmhub.testing.hub_server`.
"""

from wmhub.testing.hub_server import HubError, HubServer, HubStore, patch_endpoint, running_hub

__all__ = ["HubError", "HubServer", "HubStore", "patch_endpoint", "running_hub"]
