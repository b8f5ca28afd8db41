"""Datasets wherever they live: the public dataset verbs (:mod:`wmhub.hub.verbs`) and the engines behind
them — publish (:mod:`~wmhub.hub.publish`), download (:mod:`~wmhub.hub.download`), verify and info of
stored datasets (:mod:`~wmhub.hub.checks`) — over the one ``Store`` protocol of :mod:`wmhub.storage`."""
