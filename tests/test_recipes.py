"""Recipes' typed data steps: validated by the environment's config model, run by calling the job functions,
checked by comparing configs; old recipes with command strings are converted; the CLI is built from the same
config models; the library never calls the CLI."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from wmhub.data.manifest import MANIFEST_NAME
from wmhub.envs.registry import get_env, registered_envs
from wmhub.errors import ConfigError, DatasetMismatchError, NotFoundError, WmhubError
from wmhub.training import dataset_source
from wmhub.training.dataset_source import obtain_dataset
from wmhub.training.recipe import DatasetSpec, builtin_recipes, convert_commands, load_recipe, parse_recipe

ROOT = Path(__file__).resolve().parents[1]
TINY_STEP = {"env": "reacher", "episodes": 3, "episodes_per_shard": 2, "episode_length": 10, "seed": 5}

OLD_COMMANDS = [
    "wmhub generate reacher OUT --episodes 60 --episodes-per-shard 20 --episode-length 200 --policy p-controller "
    "--epsilon 0.3 --seed 0 --workers 2",
    "wmhub encode OUT --encoder vjepa2:facebook/vjepa2-vitl-fpc64-256 --dtype bf16 --batch-size 32",
]
OLD_RECIPE = f"""
name: old
dataset:
  source: data/tiny-reacher
  config: steps
  generate: {json.dumps(OLD_COMMANDS)}
model: {{kind: mlp_dynamics}}
"""

NEW_RECIPE = """
name: old
dataset:
  source: data/tiny-reacher
  config: steps
  generate: {env: reacher, episodes: 60, episodes_per_shard: 20, episode_length: 200, policy: p-controller,
             epsilon: 0.3, seed: 0, workers: 2}
  encode:
    - {encoder: "vjepa2:facebook/vjepa2-vitl-fpc64-256", dtype: bf16, batch_size: 32}
model: {kind: mlp_dynamics}
"""


# ------------------------------------------------------------------ reading recipes
def test_reading_a_recipe_loads_neither_torch_nor_a_simulator():
    code = ("import sys, wmhub, wmhub.training.recipe; wmhub.load_recipe('tiny_reacher_dynamics_state'); "
            "wmhub.load_recipe('spot_world_model_10m'); "
            "heavy = {'torch', 'mujoco', 'dm_control', 'transformers'} & set(sys.modules); "
            "assert not heavy, sorted(heavy)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT.parent)
    assert result.returncode == 0, result.stderr


def test_typed_steps_are_validated_by_the_environment_config():
    spec = DatasetSpec(source="d", generate={"env": "reacher", "episodes": 4, "epsilon": "0.1"})
    assert spec.generate.options == {"episode_length": 200, "policy": "p-controller", "epsilon": 0.1, "seed": 0}
    spot = DatasetSpec(source="d", generate={"env": "spot", "episodes": 4})
    assert spot.generate.options["obs_noise"] is True and spot.generate.options["policy"] == "trot"


@pytest.mark.parametrize("override, message", [
    ("dataset.generate={env: reacher, episodes: 4, speed: 3}",
     r"dataset\.generate: unknown option 'speed' for environment reacher; options: episode_length, policy"),
    ("dataset.generate={env: reacher, episodes: 4, policy: walk}",
     r"dataset\.generate: invalid option 'policy' for environment reacher"),
    ("dataset.generate={env: cartpole, episodes: 4}", r"unknown environment 'cartpole'; choose one of: reacher, spot"),
    ("dataset.generate={env: reacher}", r"missing key 'dataset\.generate\.episodes'"),
    ("dataset.encode=[{dtype: bf16}]", r"an encode step needs encoder: SPEC and/or save_frames: true"),
    ("dataset.generate=[rm -rf OUT]", r"must be `wmhub generate\|encode"),
    ("dataset.generate=[wmhub generate reacher OUT --episodes 4 --speed 3]", r"unknown option 'speed'"),
])
def test_data_step_errors_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_recipe("tiny_reacher_dynamics_state", [override])


def test_old_command_strings_are_converted():
    """A recipe written (or pushed with a checkpoint) before the steps were typed reads as the typed form."""
    old, new = parse_recipe(OLD_RECIPE, "old.yaml"), parse_recipe(NEW_RECIPE, "new.yaml")
    assert old.dataset == new.dataset
    assert old.dataset.commands() == OLD_COMMANDS
    assert "generate:\n    env: reacher" in old.to_yaml()
    cleared = load_recipe("reacher_dynamics_mlp_100k", ["dataset.generate=[]"]).dataset  # the list holds all steps
    assert cleared.generate is None and cleared.encode == []
    inline = convert_commands(["wmhub generate reacher OUT --episodes 3 --encoder state --render-workers 0 --quiet"])
    assert inline == {"generate": {"env": "reacher", "episodes": "3"}, "encode": [{"encoder": "state", "workers": "0"}]}
    with pytest.raises(ValueError, match="two `wmhub generate` commands"):
        convert_commands(["wmhub generate reacher OUT --episodes 3"] * 2)


@pytest.mark.parametrize("name", builtin_recipes())
def test_every_builtin_recipe_round_trips_through_its_commands(name):
    """Each built-in recipe's typed steps, written as the old command strings, convert back to themselves."""
    recipe = load_recipe(name)
    assert recipe.dataset.generate is not None
    raw = yaml.safe_load(recipe.to_yaml())
    raw["dataset"].pop("encode")
    raw["dataset"]["generate"] = recipe.dataset.commands()
    assert parse_recipe(yaml.safe_dump(raw), name).dataset == recipe.dataset


# ------------------------------------------------------------------ running the steps
@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("recipes") / "tiny"
    obtained = obtain_dataset(DatasetSpec(source=str(root), generate=TINY_STEP), "r.yaml", show_progress=False)
    assert obtained.how == "generated" and obtained.root == root
    return root


def test_typed_steps_generate_then_reuse(generated, monkeypatch):
    manifest = json.loads((generated / MANIFEST_NAME).read_text())
    assert manifest["num_episodes"] == 3
    assert manifest["generator"]["config"] == {"episodes": 3, "episodes_per_shard": 2, "episode_length": 10,
                                               "policy": "p-controller", "epsilon": 0.3, "seed": 5}

    def refuse(*args, **kwargs):
        raise AssertionError("an existing dataset must be reused, not regenerated")

    monkeypatch.setattr(dataset_source, "generate", refuse)
    again = obtain_dataset(DatasetSpec(source=str(generated), generate={**TINY_STEP, "workers": 2}), "r.yaml")
    assert again.how == "local"


def test_a_config_mismatch_is_refused_not_regenerated(generated, monkeypatch):
    before = (generated / MANIFEST_NAME).read_bytes()
    monkeypatch.setattr(dataset_source, "generate", lambda *a, **k: pytest.fail("regenerated"))
    other = DatasetSpec(source=str(generated), generate={**TINY_STEP, "epsilon": 0.5})
    with pytest.raises(DatasetMismatchError, match=r"was generated by `wmhub generate reacher OUT .*` but r\.yaml "
                                                   r"dataset\.generate asks for another dataset \(epsilon: has 0\.3, "
                                                   r"asked 0\.5\)"):
        obtain_dataset(other, "r.yaml")
    assert (generated / MANIFEST_NAME).read_bytes() == before


def test_a_missing_config_is_computed_by_the_encode_steps(tmp_path, generated):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(generated, copy)
    spec = DatasetSpec(source=str(copy), config="embeddings-state", generate=TINY_STEP,
                       encode=[{"encoder": "state", "workers": 0}])
    assert obtain_dataset(spec, "r.yaml", show_progress=False).how == "local (encoded)"
    assert obtain_dataset(spec, "r.yaml", show_progress=False).how == "local"


def test_hub_source_falls_back_to_generating_only_when_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("WMHUB_DATA_CACHE", str(tmp_path / "cache"))
    spec = DatasetSpec(source="hf://datasets/org/tiny", generate=TINY_STEP)

    def mismatch(*args, **kwargs):
        raise DatasetMismatchError("holds another dataset")

    monkeypatch.setattr(dataset_source, "_download", mismatch)
    monkeypatch.setattr(dataset_source, "build_dataset", lambda *a, **k: pytest.fail("regenerated"))
    with pytest.raises(DatasetMismatchError, match="holds another dataset"):
        obtain_dataset(spec, "r.yaml", show_progress=False)

    built = []

    def missing(*args, **kwargs):
        raise NotFoundError("hf://datasets/org/tiny: repository not found")

    def build(spec, out, show_progress=True):
        built.append(out)
        raise WmhubError("stop here")

    monkeypatch.setattr(dataset_source, "_download", missing)
    monkeypatch.setattr(dataset_source, "build_dataset", build)
    with pytest.raises(WmhubError, match="stop here"):
        obtain_dataset(spec, "r.yaml", show_progress=False)
    assert built == [tmp_path / "cache" / "org" / "tiny" / "main"]


# ------------------------------------------------------------------ the CLI, built from the config models
# (name, flag, default, required) of `wmhub generate <env>`, in --help order: as before, plus --license (the
# dataset card's license) and reacher's --engine (an execution option: both engines write the same bytes)
EXPECTED_OPTIONS = {
    "reacher": [
        ("out", None, None, True), ("episodes", "--episodes", None, True),
        ("episodes_per_shard", "--episodes-per-shard", None, False), ("seed", "--seed", 0, False),
        ("workers", "--workers", 1, False), ("resume", "--resume", False, False), ("quiet", "--quiet", False, False),
        ("executor", "--executor", "local", False), ("ray_address", "--ray-address", None, False),
        ("license", "--license", None, False),
        ("episode_length", "--episode-length", 200, False), ("policy", "--policy", "p-controller", False),
        ("epsilon", "--epsilon", 0.3, False), ("engine", "--engine", "mujoco", False),
        ("encoder_spec", "--encoder", None, False),
        ("pooling", "--pooling", "cls", False), ("device", "--device", "auto", False),
        ("dtype", "--dtype", "fp32", False), ("batch_size", "--batch-size", 16, False),
        ("frame_size", "--frame-size", None, False), ("save_frames", "--save-frames", False, False),
        ("encoder_threads", "--encoder-threads", None, False), ("ray_actors", "--ray-actors", None, False),
        ("render_workers", "--render-workers", 1, False)],
    "spot": [
        ("out", None, None, True), ("episodes", "--episodes", None, False),
        ("episodes_per_shard", "--episodes-per-shard", None, False), ("seed", "--seed", 0, False),
        ("workers", "--workers", 1, False), ("resume", "--resume", False, False), ("quiet", "--quiet", False, False),
        ("executor", "--executor", "local", False), ("ray_address", "--ray-address", None, False),
        ("license", "--license", None, False), ("hours", "--hours", None, False),
        ("episode_length", "--episode-length", 1000, False),
        ("policy", "--policy", "trot", False), ("epsilon", "--epsilon", 0.0, False),
        ("obs_noise", "--obs-noise", True, False), ("policy_sha256", "--policy-sha256", "", False)],
}
EXPECTED_CHOICES = {("reacher", "policy"): ["p-controller", "jacobian", "random"],
                    ("reacher", "engine"): ["mujoco", "dm_control"],
                    ("reacher", "executor"): ["local", "ray"], ("spot", "executor"): ["local", "ray"]}


@pytest.mark.parametrize("env", ["reacher", "spot"])
def test_generate_options_are_unchanged(env):
    import click

    from wmhub.cli import main

    command = main.commands["generate"].commands[env]
    found = []
    for param in command.params:
        default = param.get_default(click.Context(command)) if isinstance(param, click.Option) else None
        if isinstance(param, click.Option) and param.is_flag and not param.default:
            default = False
        flag = next((o for o in param.opts if o.startswith("--")), None)
        found.append((param.name, flag, default, param.required))
        if (env, param.name) in EXPECTED_CHOICES:
            assert list(param.type.choices) == EXPECTED_CHOICES[(env, param.name)]
        if isinstance(param, click.Option):
            assert param.help, param.name
    assert found == EXPECTED_OPTIONS[env]


def test_every_environment_field_has_help_and_a_cli_option():
    from wmhub.cli import main

    assert sorted(main.commands["generate"].commands) == registered_envs()
    for name in registered_envs():
        env = get_env(name)
        flags = {o for p in main.commands["generate"].commands[name].params for o in p.opts}
        for field_name, field in {**env.config_cls.model_fields, **env.size_cls.model_fields}.items():
            assert field.description, (name, field_name)
            assert f"--{field_name.replace('_', '-')}" in flags


def test_spot_size_rules_live_in_the_environment(tmp_path):
    spot = get_env("spot")
    request = spot.resolve(tmp_path / "new", None, None, {}, {"hours": 0.5})
    assert (request.episodes, request.episodes_per_shard) == (90, 100)
    with pytest.raises(ConfigError, match="give exactly one of --episodes N or --hours H"):
        spot.resolve(tmp_path / "new", 4, None, {}, {"hours": 0.5})
    with pytest.raises(ConfigError, match="--hours must be a positive number"):
        spot.resolve(tmp_path / "new", None, None, {}, {"hours": 0})
    assert get_env("reacher").resolve(tmp_path / "new", 4, None, {}).episodes_per_shard is None


# ------------------------------------------------------------------ layering
def test_the_library_never_imports_the_cli():
    """Only modules of wmhub.cli import wmhub.cli (the library calls job functions, not commands)."""
    offenders = []
    for path in sorted((ROOT / "toolkit").rglob("*.py")):
        relative = path.relative_to(ROOT / "toolkit")
        if relative.parts[0] == "cli":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            if any(n == "wmhub.cli" or n.startswith("wmhub.cli.") for n in names):
                offenders.append(f"{relative}:{node.lineno}")
    assert not offenders, offenders


def test_hub_source_is_downloaded_or_generated_when_the_repo_is_missing(generated, tmp_path, monkeypatch):
    """Against the test Hub server: a published dataset is downloaded and checked; a missing repo is generated."""
    import wmhub

    from support.hub_server import HubServer, patch_endpoint

    monkeypatch.setenv("WMHUB_DATA_CACHE", str(tmp_path / "cache"))
    with HubServer(tmp_path / "server") as server, patch_endpoint(server.url, hf_home=tmp_path / "hf-home"):
        monkeypatch.setenv("HF_TOKEN", server.token)
        wmhub.publish(generated, "hf://datasets/wm-lab/tiny", tag="v1.0")
        got = obtain_dataset(DatasetSpec(source="hf://datasets/wm-lab/tiny", revision="v1.0", generate=TINY_STEP),
                             "r.yaml", show_progress=False)
        assert got.how == "downloaded" and len(got.revision) == 40
        with pytest.raises(DatasetMismatchError, match=r"asks for another dataset \(episodes: has 3, asked 4\)"):
            obtain_dataset(DatasetSpec(source="hf://datasets/wm-lab/tiny", generate={**TINY_STEP, "episodes": 4}),
                           "r.yaml", show_progress=False)
        missing = obtain_dataset(DatasetSpec(source="hf://datasets/wm-lab/absent", generate=TINY_STEP), "r.yaml",
                                 show_progress=False)
        assert missing.how == "generated (hub unreachable)"
        assert missing.root == tmp_path / "cache" / "wm-lab" / "absent" / "main"
