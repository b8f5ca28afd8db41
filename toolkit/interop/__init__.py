"""Interoperability: wmhub datasets written as LeRobotDataset v3.0, Minari datasets and flat triples.

* :mod:`wmhub.interop.export`: ``wmhub export`` (one entry point over the formats);
* :mod:`wmhub.interop.source`: the dataset read episode by episode, and the staged output directory;
* :mod:`wmhub.interop.lerobot`, :mod:`wmhub.interop.minari`, :mod:`wmhub.interop.triples`: the formats;
* :mod:`wmhub.interop.publish`: a LeRobot export uploaded to the Hub with LeRobot's ``v3.0`` tag;
* :mod:`wmhub.interop.types`: :class:`~wmhub.interop.types.ExportResult`.

docs/interop.md shows how each export is read.
"""
