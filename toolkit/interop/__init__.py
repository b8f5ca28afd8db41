"""Interoperability: wmhub datasets written as LeRobotDataset v3 and Minari datasets (``wmhub export``)."""
