"""Profiles (config/profiles/*.yaml): the paper's scale applied to params.yaml, comments kept, validated."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fashioncat import config, profile
from fashioncat.__main__ import main
from fashioncat.errors import FashionError

ROOT = Path(__file__).resolve().parents[2]


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
    vgg16 = cfg.train.architectures["vgg16"]
    assert vgg16.learning_rate is None and vgg16.initializer is None  # Table 1's one shared configuration
    comments = [line.split("#", 1)[1] for line in before.splitlines() if "#" in line]
    assert comments == [line.split("#", 1)[1] for line in after.splitlines() if "#" in line]
    assert len(after.splitlines()) == len(before.splitlines())


def test_a_key_params_yaml_lacks_is_refused_and_nothing_is_written(params, tmp_path):
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "typo.yaml").write_text("train:\n  imge_size: 64\n")
    before = params.read_text()
    with pytest.raises(FashionError, match=r"^profile key train.imge_size is not a key of \S*params.yaml$"):
        profile.apply("typo", params, folder)
    (folder / "bad.yaml").write_text("crop:\n  size: -3\n")
    with pytest.raises(FashionError, match="crop.size"):
        profile.apply("bad", params, folder)
    with pytest.raises(FashionError, match="no such profile"):
        profile.apply("nope", params, folder)
    assert params.read_text() == before


def test_the_command_prints_the_exp_run_line_or_applies(params, capsys):
    assert main(["profile", "paper"]) == 0
    out = capsys.readouterr().out.splitlines()
    line = out[0]
    assert line.startswith("dvc exp run -n paper -S ") and "-S crop.size=224 " in line
    assert "-S 'tune.grids.augmentation.rotation=[0, 10, 30, 90]'" in line
    assert "-S train.architectures.vgg16.learning_rate=null " in line  # clears the override, as --apply does
    assert out[1:] and all(extra.startswith("# kept as in params.yaml: ") for extra in out[1:])
    assert main(["profile", "paper", "--apply", "--params", str(params)]) == 0
    assert config.load(params).crop.size == 224
    assert main(["profile", "nope"]) == 2 and "no such profile" in capsys.readouterr().err


def variant(params: Path, *changes: tuple[str, str]) -> bytes:
    """Rewrite the params.yaml copy with each (old, new) text replaced once; return its bytes."""
    text = params.read_text()
    for old, new in changes:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    params.write_text(text)
    return params.read_bytes()


def profile_file(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "profiles"
    folder.mkdir(exist_ok=True)
    (folder / "p.yaml").write_text(text)
    return folder


def changed_lines(before: bytes, after: bytes) -> list[tuple[bytes, bytes]]:
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(old) == len(new)
    return [(a, b) for a, b in zip(old, new) if a != b]


def refused(params: Path, folder: Path) -> str:
    """The one-line error `apply` gives; the file is left as it was."""
    before = params.read_bytes()
    with pytest.raises(FashionError) as caught:
        profile.apply("p", params, folder)
    assert params.read_bytes() == before
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_a_dataset_whose_name_starts_with_a_digit_keeps_its_own_values(params, tmp_path):
    """`2nd:` did not match the old key pattern, so its per_class was taken for target's and changed too."""
    text = params.read_text()
    target = text[text.index("  target:") : text.index("\n\ndownload:")]
    before = variant(params, (target, target + "\n" + target.replace("  target:", "  2nd:")))
    profile.apply("p", params, profile_file(tmp_path, "datasets:\n  target:\n    per_class: 3000\n"))
    assert {k: d.per_class for k, d in config.load(params).datasets.items()} == {
        "source": 5000,
        "target": 3000,
        "2nd": 200,
    }
    assert changed_lines(before, params.read_bytes()) == [
        (b"    per_class: 200          # paper: 5000\n", b"    per_class: 3000         # paper: 5000\n")
    ]


def test_quoted_keys_are_found_as_yaml_reads_them(params, tmp_path):
    """A quoted `"target":` was skipped, so target's per_class was taken for source's and changed too."""
    before = variant(params, ("  target:", '  "target":'), ("  size: 48", "  'size': 48"))
    profile.apply("p", params, profile_file(tmp_path, "datasets:\n  source: {per_class: 3000}\ncrop: {size: 64}\n"))
    cfg = config.load(params)
    assert (cfg.datasets["source"].per_class, cfg.datasets["target"].per_class, cfg.crop.size) == (3000, 200, 64)
    assert [new.split(b"#")[0].strip() for _, new in changed_lines(before, params.read_bytes())] == [
        b"per_class: 3000",
        b"'size': 64",
    ]


@pytest.fixture
def merged_params(params) -> Path:
    """finetune.whole_model takes last_layer's keys through a merge key and overrides two of them."""
    variant(
        params,
        ("  last_layer:   ", "  last_layer: &retrain"),
        ("  whole_model:  ", "  whole_model:\n    <<: *retrain\n  "),
        ("    optimizer: adam\n    learning_rate: 0.0001", "    learning_rate: 0.0001"),
    )
    cfg = config.load(params)
    assert cfg.finetune.whole_model == config.Retrain("adam", 0.0001, 0.2)
    return params


def test_a_value_that_a_merge_key_brings_is_refused_naming_the_key(merged_params, tmp_path):
    message = refused(merged_params, profile_file(tmp_path, "finetune:\n  whole_model:\n    optimizer: sgd\n"))
    assert re.fullmatch(
        r"\S*params.yaml:\d+: finetune.whole_model.optimizer would come from a YAML merge key \(<<\); "
        r"a profile changes no merged value \(edit \S*params.yaml by hand\)",
        message,
    )


def test_a_value_inside_a_section_an_alias_shares_is_refused(merged_params, tmp_path):
    """Changing last_layer's decay would also change whole_model's, which merges it."""
    message = refused(merged_params, profile_file(tmp_path, "finetune:\n  last_layer:\n    decay: 0.5\n"))
    assert "finetune.last_layer.decay is inside finetune.last_layer, which the YAML anchor &retrain shares" in message


def test_a_value_a_mapping_sets_beside_its_merge_key_is_changed_alone(merged_params, tmp_path):
    before = merged_params.read_bytes()
    folder = profile_file(tmp_path, "finetune:\n  whole_model:\n    learning_rate: 0.001\n")
    profile.apply("p", merged_params, folder)
    cfg = config.load(merged_params)
    assert (cfg.finetune.whole_model, cfg.finetune.last_layer) == (
        config.Retrain("adam", 0.001, 0.2),
        config.Retrain("adam", 0.001, 1.0),
    )
    assert len(changed_lines(before, merged_params.read_bytes())) == 1


@pytest.fixture
def anchored_params(params) -> Path:
    """crop.size carries an anchor that train.image_size repeats."""
    variant(params, ("  size: 48  ", "  size: &px 48"), ("  image_size: 48", "  image_size: *px"))
    assert config.load(params).train.image_size == 48
    return params


def test_an_anchored_value_is_refused_with_one_line_not_a_traceback(anchored_params, tmp_path, capsys):
    """The old edit dropped `&px`, and parsing the result raised on the orphaned `*px`."""
    message = refused(anchored_params, profile_file(tmp_path, "crop:\n  size: 224\n"))
    assert re.fullmatch(
        r"\S*params.yaml:\d+: crop.size is tied to the YAML anchor &px; "
        r"a profile changes no anchored or aliased value \(edit \S*params.yaml by hand\)",
        message,
    )
    message = refused(anchored_params, profile_file(tmp_path, "train:\n  image_size: 224\n"))
    assert "train.image_size is tied to the YAML anchor &px" in message
    before = anchored_params.read_bytes()
    assert main(["profile", "paper", "--apply", "--params", str(anchored_params)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "crop.size is tied to the YAML anchor &px" in err
    assert anchored_params.read_bytes() == before


def test_a_crlf_file_keeps_its_line_endings_and_every_other_byte(params):
    lf = params.read_bytes()
    params.write_bytes(lf.replace(b"\n", b"\r\n"))
    profile.apply("paper", params)
    crlf_result = params.read_bytes()
    params.write_bytes(lf)
    profile.apply("paper", params)
    assert crlf_result == params.read_bytes().replace(b"\n", b"\r\n")
    assert crlf_result.count(b"\n") == crlf_result.count(b"\r\n") == lf.count(b"\n")


def test_tabs_in_comments_are_kept_and_a_tab_before_a_comment_is_a_yaml_error(params, tmp_path):
    """PyYAML, which every stage reads params.yaml with, takes no tab before a `#`: the old edit
    dropped such a comment and so wrote a file that suddenly loaded; now nothing is written."""
    before = variant(params, ("  size: 48                  # output", "  size: 48  #\toutput\t"))
    profile.apply("p", params, profile_file(tmp_path, "crop:\n  size: 224\n"))
    ((old, new),) = changed_lines(before, params.read_bytes())
    assert (old.startswith(b"  size: 48  #\toutput\t"), new) == (True, old.replace(b"48", b"224", 1))
    variant(params, ("  size: 224  #\toutput", "  size: 224\t#\toutput"))
    message = refused(params, profile_file(tmp_path, "crop:\n  size: 64\n"))
    assert re.fullmatch(
        r"\S*params.yaml:\d+: not valid YAML \(found character '\\t' that cannot start any token\)", message
    )


def test_a_key_params_yaml_holds_twice_is_refused_before_any_edit(params, tmp_path):
    variant(params, ("  size: 48", "  size: 16\n  size: 48"))
    message = refused(params, profile_file(tmp_path, "crop:\n  size: 224\n"))
    assert re.fullmatch(
        r"\S*params.yaml:\d+: duplicate key crop.size \(first on line \d+\); YAML would keep only the last", message
    )


def _paper_keys(text: str) -> dict[str, str]:
    """Dotted keys of params.yaml whose comment, or the comment lines under it, names the paper."""
    found, stack, last = {}, [], None
    for line in text.splitlines():
        key = re.match(r"^( *)([A-Za-z0-9_]+):([^#]*)(#.*)?$", line)
        if key:
            indent, name, value, comment = len(key.group(1)), key.group(2), key.group(3).strip(), key.group(4) or ""
            while stack and stack[-1][0] >= indent:
                stack.pop()
            last = ".".join([k for _, k in stack] + [name])
            if not value:
                stack.append((indent, name))
        else:
            comment = line.strip() if line.strip().startswith("#") and last else ""
        if "paper" in comment.lower() and last:
            found.setdefault(last, comment)
    return found


def test_every_key_whose_comment_names_the_paper_is_set_by_the_profile_or_kept_with_a_reason():
    named = _paper_keys((ROOT / "params.yaml").read_text())
    assert {"train.batch_norm_momentum", "train.precision", "finetune.whole_model.tuned", "crop.fit"} <= set(named)
    set_keys = set(profile.leaves(profile.load_profile("paper", ROOT / "config/profiles")))
    kept = profile.kept("paper", ROOT / "config/profiles")
    covered = {k for k in named if any(s == k or s.startswith(k + ".") for s in set_keys) or k in kept}
    assert set(named) - covered == set()
    assert set(kept) <= set(named), "a kept key should be one whose comment names the paper"
    assert not set(kept) & set_keys


def test_an_empty_mapping_in_a_profile_is_refused_because_dvc_exp_run_cannot_clear_one(tmp_path):
    folder = profile_file(tmp_path, "train:\n  architectures:\n    vgg16: {}\n")
    with pytest.raises(FashionError, match=r"train.architectures.vgg16 is an empty mapping.*to null to clear"):
        profile.load_profile("p", folder)


@pytest.mark.slow
def test_the_printed_line_run_by_dvc_exp_run_gives_the_same_params_as_apply(tmp_path, capsys, monkeypatch):
    """DVC's own -S override, not a merge written here, is the reference for the printed line."""
    from dvcrepo import ENV, commit, dvc, sh

    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(ROOT / "params.yaml", repo / "params.yaml")
    shutil.copytree(ROOT / "config", repo / "config")
    stage = {"cmd": "python -c 'pass'", "params": ["seed"], "outs": []}
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"noop": {k: v for k, v in stage.items() if v}}}))
    sh(repo, "git", "init", "-q")
    dvc(repo, "init", "-q")
    dvc(repo, "config", "core.analytics", "false")
    commit(repo, "init")

    assert main(["profile", "paper"]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    words = shlex.split(line)
    assert words[:3] == ["dvc", "exp", "run"]
    done = subprocess.run([sys.executable, "-m", "dvc", *words[1:]], cwd=repo, env=ENV, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    applied = tmp_path / "applied.yaml"
    shutil.copy(ROOT / "params.yaml", applied)
    profile.apply("paper", applied, ROOT / "config/profiles")
    # the same parameters: DVC writes 1e-05 where --apply keeps 1.0e-05 (YAML 1.1 reads the first as text),
    # so compare what the pipeline reads, the validated config, and its one cleared override
    monkeypatch.chdir(ROOT)  # class-map paths are relative to the repository
    assert config.load(applied) == config.load(repo / "params.yaml")
    assert yaml.safe_load((repo / "params.yaml").read_text())["train"]["architectures"]["vgg16"] == {
        "learning_rate": None,
        "initializer": None,
    }
