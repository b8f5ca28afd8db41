"""Package layout: the source folder ``toolkit/`` installs as the import package ``wmhub``.

The design card fixes the top-level folders (``toolkit/`` for the source, ``dataset_cards/``,
``model_cards/``, ``recipes/`` beside it), so the package map is computed here: every package
under ``toolkit/`` is discovered (no hand-kept list) and renamed ``wmhub.*``; the three data
folders ship inside the package as ``wmhub.dataset_cards``, ``wmhub.model_cards`` and
``wmhub.recipes``. Everything else (metadata, dependencies, extras) is in ``pyproject.toml``.
"""

from setuptools import find_packages, setup

DATA_FOLDERS = {"dataset_cards": "*.md", "model_cards": "*.md", "recipes": "*.yaml"}

packages = ["wmhub"] + [f"wmhub.{name}" for name in find_packages("toolkit")]
packages += [f"wmhub.{folder}" for folder in DATA_FOLDERS]
package_dir = {"wmhub": "toolkit", **{f"wmhub.{folder}": folder for folder in DATA_FOLDERS}}
package_data = {f"wmhub.{folder}": [pattern] for folder, pattern in DATA_FOLDERS.items()}

setup(packages=packages, package_dir=package_dir, package_data=package_data)
