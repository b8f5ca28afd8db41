"""HTML reports of datasets and runs: one self-contained static page per source (``wmhub report``)."""
