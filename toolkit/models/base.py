"""What every wmhub model shares: latent normalisation, hub save/load, compatibility checks.

A model sees latents in *normalised* units, ``(z - mean) / std`` with the
per-dimension statistics of the training dataset (the manifest's exact
stats). The statistics are buffers, so they travel inside
``model.safetensors``; ``config.json`` (from ``PyTorchModelHubMixin``) holds the
constructor arguments, including ``latent``, a description of where the
latent comes from (dataset config, feature names, encoder identity), which
:meth:`LatentModel.check_compatible` compares against a dataset.
"""

from __future__ import annotations

from typing import Any

import torch
from huggingface_hub import PyTorchModelHubMixin
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from torch import nn

from wmhub.errors import (
    ConfigError,
    DatasetMismatchError,
    NotFoundError,
    TransferError,
    UnsupportedFormatError,
)

REPO_URL = "https://github.com/wmhub/wmhub"


class LatentModel(nn.Module, PyTorchModelHubMixin, library_name="wmhub", repo_url=REPO_URL,
                  tags=["wmhub", "world-model", "robotics"]):
    """Base class: holds ``latent_mean`` / ``latent_std`` and the latent's description.

    ``frame_skip`` (1 here; a world model's constructor argument) is how many
    environment steps one model step spans: the model's action is the
    concatenation of that many environment actions (``action_dim`` = k · A).
    """

    frame_skip: int = 1

    def __init__(self, latent_dim: int, action_dim: int, latent: dict[str, Any] | None = None) -> None:
        super().__init__()
        if latent_dim < 1 or action_dim < 1:
            raise ConfigError(f"latent_dim and action_dim must be >= 1, got {latent_dim} and {action_dim}")
        self.latent_dim = latent_dim
        self.action_dim = action_dim
        self.latent = dict(latent or {})
        self.register_buffer("latent_mean", torch.zeros(latent_dim))
        self.register_buffer("latent_std", torch.ones(latent_dim))

    # ------------------------------------------------------- normalisation
    def set_normalization(self, mean: torch.Tensor, std: torch.Tensor, min_std: float = 1e-6) -> None:
        """Install the dataset's per-dimension latent statistics (std floored at ``min_std``)."""
        mean = torch.as_tensor(mean, dtype=torch.float32)
        std = torch.as_tensor(std, dtype=torch.float32).clamp_min(min_std)
        if mean.shape != (self.latent_dim,) or std.shape != (self.latent_dim,):
            raise ConfigError(f"normalisation statistics have shape {tuple(mean.shape)}, expected ({self.latent_dim},)")
        self.latent_mean.copy_(mean)
        self.latent_std.copy_(std)

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.latent_mean) / self.latent_std

    def denormalize(self, zn: torch.Tensor) -> torch.Tensor:
        return zn * self.latent_std + self.latent_mean

    # ------------------------------------------------------------- checks
    @property
    def num_parameters(self) -> int:
        """Trainable parameters (buffers excluded)."""
        return sum(p.numel() for p in self.parameters())

    def check_compatible(self, latent_dim: int, action_dim: int, latent: dict[str, Any] | None = None,
                         source: str = "the dataset") -> None:
        """Raise a clear error when data of these dimensions (``action_dim``: one environment step's) cannot
        feed this model."""
        if latent_dim != self.latent_dim or action_dim * self.frame_skip != self.action_dim:
            blocks = f" (blocks of {self.frame_skip} actions)" if self.frame_skip > 1 else ""
            raise DatasetMismatchError(
                f"{source} has latent dim {latent_dim} and action dim {action_dim}, but this "
                f"{type(self).__name__} was trained on latent dim {self.latent_dim} and action dim "
                f"{self.action_dim}{blocks} (latent: {self.latent or 'unspecified'}); use data encoded the same way")
        mine, theirs = self.latent.get("features"), (latent or {}).get("features")
        if mine and theirs and list(mine) != list(theirs):
            raise DatasetMismatchError(f"{source} provides latent features {theirs}, but this model expects {mine}")

    def _save_pretrained(self, save_directory) -> None:
        """Weights as ``model.safetensors``; ``config.json`` = constructor arguments + ``model_class``."""
        from wmhub.fileio import atomic_write_json
        from wmhub.version import __version__

        super()._save_pretrained(save_directory)  # type: ignore[misc]
        config = {**(self._hub_mixin_config or {}), "model_class": type(self).__name__, "wmhub_version": __version__}
        atomic_write_json(save_directory / "config.json", config)

    @classmethod
    def _from_pretrained(cls, *, model_id: str, revision: str | None, cache_dir, force_download: bool,
                         local_files_only: bool, token, map_location: str = "cpu", strict: bool = True,
                         **model_kwargs):
        """Load ``model.safetensors`` with ``strict=True``: a checkpoint missing a weight is an error, not a
        random init. Only safetensors weights are ever loaded: a repo holding only ``pytorch_model.bin``
        (pickle) is refused, never unpickled."""
        import os

        import safetensors.torch
        from safetensors import SafetensorError

        try:
            if os.path.isdir(model_id):  # local: load directly (the mixin would print a line)
                weights = os.path.join(model_id, "model.safetensors")
                if not os.path.isfile(weights):
                    raise FileNotFoundError(weights)
            else:  # a Hub repo: model.safetensors and nothing else (no pickle fallback)
                from huggingface_hub import hf_hub_download

                weights = hf_hub_download(model_id, "model.safetensors", revision=revision, cache_dir=cache_dir,
                                          force_download=force_download, token=token,
                                          local_files_only=local_files_only)
            try:
                model = cls(**model_kwargs)
            except (TypeError, ValueError) as exc:
                raise UnsupportedFormatError(f"{model_id}: config.json does not describe a {cls.__name__} "
                                             f"({type(exc).__name__}: {exc})") from exc
            safetensors.torch.load_model(model, weights, strict=True, device=map_location)
            return model.eval()
        except LocalEntryNotFoundError as exc:  # before EntryNotFoundError, its base class
            raise TransferError(f"{model_id}: the Hub cannot be reached and the file is not cached "
                                f"({str(exc).splitlines()[0]}); check your network connection and HF_ENDPOINT") from exc
        except (FileNotFoundError, EntryNotFoundError) as exc:
            raise NotFoundError(f"{model_id}: no model.safetensors (wmhub loads safetensors weights only, never "
                                "pickle files such as pytorch_model.bin); push the checkpoint with `wmhub push`"
                                ) from exc
        except SafetensorError as exc:
            raise UnsupportedFormatError(f"{model_id}: model.safetensors is not a readable safetensors file "
                                         f"({exc}); download or train it again") from exc
        except (RepositoryNotFoundError, RevisionNotFoundError) as exc:
            raise NotFoundError(f"{model_id}: repository or revision not found (or you lack access: log in with "
                                "`hf auth login` or set HF_TOKEN)") from exc
        except HfHubHTTPError as exc:
            raise TransferError(f"{model_id}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from exc
        except RuntimeError as exc:  # load_model(strict=True) on mismatched keys or shapes
            raise UnsupportedFormatError(f"{model_id}: the weights do not match {cls.__name__}'s config.json "
                                         f"({str(exc).splitlines()[0]})") from exc


def mlp(dims: list[int], layer_norm: bool = True, dropout: float = 0.0) -> nn.Sequential:
    """Hidden stack ``Linear → [LayerNorm] → ReLU → [Dropout]`` for each consecutive pair in ``dims``."""
    layers: list[nn.Module] = []
    for d_in, d_out in zip(dims[:-1], dims[1:]):
        layers.append(nn.Linear(d_in, d_out))
        if layer_norm:
            layers.append(nn.LayerNorm(d_out))
        layers.append(nn.ReLU())
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)
