"""Where bytes live, below the dataset format: one location parser (:mod:`~wmhub.storage.location`),
one ``Store`` protocol for local directories, local hubs, ``hf://`` repositories and fsspec URLs
(:mod:`~wmhub.storage.stores`), and beneath them the HTTP transport (:mod:`~wmhub.storage.transfer`),
fsspec directories (:mod:`~wmhub.storage.fsspec_dir`), wmhub's own file names and lock
(:mod:`~wmhub.storage.files`) and the one cache root (:mod:`~wmhub.storage.cache`)."""
