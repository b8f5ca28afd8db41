"""HTML reports of datasets and runs: one self-contained static page per source (``wmhub report``).

* :mod:`~wmhub.reporting.build`: :func:`~wmhub.reporting.build.report`, the verb (``ReportResult``);
* :mod:`~wmhub.reporting.dataset_report` / :mod:`~wmhub.reporting.run_report`: the sections of each kind;
* :mod:`~wmhub.reporting.dataset_scan`: histograms in one streaming pass; :mod:`~wmhub.reporting.projection`:
  PCA of embedding configs; :mod:`~wmhub.reporting.thumbnails`: episode GIF strips and videos;
* :mod:`~wmhub.reporting.figures`: matplotlib plots; :mod:`~wmhub.reporting.page`: the Jinja2 page.

The package is ``reporting``, not ``report``, so that it never shadows the flat verb ``wmhub.report``
(as ``generation`` and ``training`` leave ``wmhub.generate`` and ``wmhub.train`` alone).
"""
