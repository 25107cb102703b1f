"""Profiles (config/profiles/*.yaml): the paper's scale applied to params.yaml, comments kept, validated."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from fashioncat import config, profile
from fashioncat.__main__ import main
from fashioncat.errors import FashionError

ROOT = Path(__file__).resolve().parents[1]


def merged(base: dict, overlay: dict) -> dict:
    out = dict(base)
    for key, value in overlay.items():
        out[key] = merged(base[key], value) if isinstance(value, dict) and value else value
    return out


@pytest.fixture
def params(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(ROOT)  # class-map paths in params.yaml are relative to the repository
    copy = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", copy)
    return copy


def test_the_paper_profile_applies_validates_and_keeps_every_comment(params):
    before = params.read_text()
    profile.apply("paper", params)
    after = params.read_text()
    overlay = profile.load_profile("paper")
    assert yaml.safe_load(after) == merged(yaml.safe_load(before), overlay)
    cfg = config.load(params)
    assert (cfg.crop.size, cfg.train.image_size, cfg.train.batch_size) == (224, 224, 32)
    assert cfg.datasets["source"].per_class == cfg.datasets["target"].per_class == 5000
    assert cfg.tune.grids.augmentation.rotation == [0, 10, 30, 90] and len(cfg.tune.grids.initializer.initializer) == 6
    assert cfg.train.architectures["vgg16"].learning_rate is None  # Table 1's one shared configuration
    comments = [line.split("#", 1)[1] for line in before.splitlines() if "#" in line]
    assert comments == [line.split("#", 1)[1] for line in after.splitlines() if "#" in line]
    assert len(after.splitlines()) == len(before.splitlines())


def test_a_key_params_yaml_lacks_is_refused_and_nothing_is_written(params, tmp_path):
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "typo.yaml").write_text("train:\n  imge_size: 64\n")
    before = params.read_text()
    with pytest.raises(FashionError, match="profile key train.imge_size is not a key of params.yaml"):
        profile.apply("typo", params, folder)
    (folder / "bad.yaml").write_text("crop:\n  size: -3\n")
    with pytest.raises(FashionError, match="crop.size"):
        profile.apply("bad", params, folder)
    with pytest.raises(FashionError, match="no such profile"):
        profile.apply("nope", params, folder)
    assert params.read_text() == before


def test_the_command_prints_the_exp_run_line_or_applies(params, capsys):
    assert main(["profile", "paper"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("dvc exp run -n paper -S ") and "-S 'crop.size=224'" in line
    assert "-S 'tune.grids.augmentation.rotation=[0, 10, 30, 90]'" in line
    assert main(["profile", "paper", "--apply", "--params", str(params)]) == 0
    assert config.load(params).crop.size == 224
    assert main(["profile", "nope"]) == 2 and "no such profile" in capsys.readouterr().err
