"""Hostile checkpoints for ``load_model`` / ``from_pretrained``: garbage weights or config are one line, and
pickle weights (``pytorch_model.bin``) are never loaded, from a directory or from the Hub."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from wmhub.errors import NotFoundError, TransferError, UnsupportedFormatError
from wmhub.models import MLPDynamics
from wmhub.models.registry import load_model

from support.hub_server import HubServer, patch_endpoint


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    directory = tmp_path / "model"
    MLPDynamics(6, 2, hidden_dim=8, num_layers=1).save_pretrained(directory)
    return directory


@pytest.fixture
def no_pickle(monkeypatch):
    """A trip wire: any torch.load (pickle) fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("torch.load was called")

    monkeypatch.setattr(torch, "load", refuse)


def _pickle_only(checkpoint: Path) -> Path:
    (checkpoint / "pytorch_model.bin").write_bytes(b"not even a pickle")
    (checkpoint / "model.safetensors").unlink()
    return checkpoint


def test_garbage_weights_are_one_line(checkpoint):
    (checkpoint / "model.safetensors").write_bytes(b"garbage" * 100)
    with pytest.raises(UnsupportedFormatError, match="not a readable safetensors file") as info:
        load_model(checkpoint)
    assert "\n" not in str(info.value)
    with pytest.raises(UnsupportedFormatError):
        MLPDynamics.from_pretrained(str(checkpoint))


def test_garbage_config_is_one_line(checkpoint):
    (checkpoint / "config.json").write_text("{not json")
    with pytest.raises(UnsupportedFormatError, match="config.json is not JSON"):
        load_model(checkpoint)
    (checkpoint / "config.json").write_text('{"model_class": "MLPDynamics", "latent_dim": "six", "action_dim": 2}')
    with pytest.raises(UnsupportedFormatError, match="config.json"):
        load_model(checkpoint)


def test_a_directory_with_only_pickle_weights_is_refused(checkpoint, no_pickle):
    _pickle_only(checkpoint)
    with pytest.raises(NotFoundError, match="pytorch_model.bin: pickle weights, which wmhub never loads"):
        load_model(checkpoint)
    with pytest.raises(NotFoundError, match="never pickle"):
        MLPDynamics.from_pretrained(str(checkpoint))


def test_a_hub_repo_with_only_pickle_weights_is_refused(checkpoint, no_pickle, tmp_path, monkeypatch):
    from huggingface_hub import HfApi

    _pickle_only(checkpoint)
    with HubServer(tmp_path / "server") as server, patch_endpoint(server.url, hf_home=tmp_path / "hf-home"):
        monkeypatch.setenv("HF_TOKEN", server.token)
        api = HfApi()
        api.create_repo("wm-lab/pickled")
        api.upload_folder(folder_path=str(checkpoint), repo_id="wm-lab/pickled")
        with pytest.raises(NotFoundError, match="pickle"):
            load_model("hf://wm-lab/pickled")
        shutil.rmtree(tmp_path / "hf-home", ignore_errors=True)
        with pytest.raises(NotFoundError, match="never pickle"):
            MLPDynamics.from_pretrained("wm-lab/pickled")
        with pytest.raises(NotFoundError, match="not found"):
            MLPDynamics.from_pretrained("wm-lab/no-such-model")


def test_an_unreachable_hub_is_a_transfer_error(tmp_path, monkeypatch):
    import socket

    import wmhub.storage.transfer

    monkeypatch.setattr(wmhub.storage.transfer, "RETRY_FIRST_DELAY_S", 0.01)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with patch_endpoint(f"http://127.0.0.1:{port}", hf_home=tmp_path / "hf-home"):
        with pytest.raises(TransferError):
            load_model("hf://wm-lab/tiny-dynamics")
