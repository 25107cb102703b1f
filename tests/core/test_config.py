"""params.yaml is validated up front, with one line naming the key at fault."""

import copy
import dataclasses
import math
from pathlib import Path

import pytest
import yaml

from fashioncat import config
from fashioncat.errors import FashionError

ROOT = Path(__file__).resolve().parents[2]


def write(data):
    Path("params.yaml").write_text(yaml.safe_dump(data))
    return config.load("params.yaml")


def test_repository_params_load(params):
    cfg = write(params)
    assert cfg.split.train == 0.7 and cfg.dataset("source").format == "deepfashion"
    assert set(cfg.datasets) == {"source", "target"}


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda p: p["split"].update(colour=1), "unknown key split.colour"),
        (lambda p: p.update(sed=1), "unknown key sed"),
        (lambda p: p["crop"].update(size="big"), "crop.size must be an integer"),
        (lambda p: p["crop"].update(size=True), "crop.size must be an integer"),
        (lambda p: p["balance"].update(allow_smaller="yes"), "balance.allow_smaller must be true or false"),
        (lambda p: p["split"].update(train=0.8), "split.train \\+ val \\+ test must sum to 1"),
        (lambda p: p["split"].update(val=-0.1, train=0.95), "split.val must be positive"),
        (
            lambda p: p["datasets"]["source"].update(classes="config/classes/nope.yaml"),
            "datasets.source.classes: mapping file config/classes/nope.yaml does not exist",
        ),
        (lambda p: p["datasets"]["target"].update(format="yolo"), "datasets.target.format must be one of"),
        (lambda p: p["crop"].pop("margin"), "missing key crop.margin"),
        (lambda p: p["crop"].update(fit="crop"), "crop.fit must be one of"),
        (lambda p: p["train"].update(precision="float16"), "train.precision must be one of auto, float32"),
        (lambda p: p["train"].update(deterministic="no"), "train.deterministic must be true or false"),
        (lambda p: p.update(datasets=[]), "datasets must be a non-empty mapping"),
        (lambda p: p["download"].update(deadline_s=0), "download.deadline_s must be positive"),
        (lambda p: p["final"].update(learning_rate_scale=0), "final.learning_rate_scale must be positive"),
        (lambda p: p["final"].update(label_smoothing=1), "final.label_smoothing must be below 1, not 1"),
        (lambda p: p["final"].update(label_smoothing=-0.1), "final.label_smoothing must not be negative"),
        (lambda p: p["final"].pop("flip_tta"), "missing key final.flip_tta"),
        (lambda p: p["download"].pop("deadline_s"), "missing key download.deadline_s"),
        (lambda p: p["download"].update(local_roots="/data"), "download.local_roots must be a list"),
        (
            lambda p: p["download"].update(local_roots=["config", "/no/such/folder"]),
            "download.local_roots\\[1\\]: folder /no/such/folder does not exist",
        ),
    ],
)
def test_bad_params_name_the_key(params, edit, message):
    edit(params)
    with pytest.raises(FashionError, match=message):
        write(params)


def test_floats_accept_integers(params):
    params["download"]["timeout_s"] = 5
    assert write(params).download.timeout_s == 5.0


def test_final_scales_only_the_tuned_learning_rate(params):
    params["final"]["learning_rate_scale"] = 2
    cfg = write(params)
    tuned = cfg.train.hyper
    trained = cfg.final.hyper(tuned)
    assert trained.learning_rate == 2 * tuned.learning_rate
    assert {**vars(trained), "learning_rate": 0} == {**vars(tuned), "learning_rate": 0}


def test_broken_yaml_names_the_line(params):
    Path("params.yaml").write_text("seed: 1\ncrop: [\n")
    with pytest.raises(FashionError, match=r"params.yaml:\d+: not valid YAML"):
        config.load("params.yaml")


def test_unknown_dataset_name(params):
    with pytest.raises(FashionError, match="datasets.other is not defined"):
        write(params).dataset("other")


def test_class_mappings_in_the_repository_are_valid():
    from fashioncat.data.classmap import load_classmap

    maps = {p.name: load_classmap(p) for p in (ROOT / "config/classes").glob("*.yaml")}
    assert maps["deepfashion_paper.yaml"].classes == maps["imaterialist_paper.yaml"].classes
    assert len(maps["deepfashion_paper.yaml"].classes) == 10
    assert maps["fashion_mnist.yaml"].classes == maps["imaterialist_fashion_mnist.yaml"].classes
    assert maps["imaterialist_paper.yaml"].lookup["183"] == "suits"  # "Suits & Blazers" by name


def test_class_mapping_errors(tmp_path):
    from fashioncat.data.classmap import load_classmap

    bad = tmp_path / "m.yaml"
    bad.write_text("classes:\n  a: [x]\n  b: [x]\n")
    with pytest.raises(FashionError, match="'x' is under both 'a' and 'b'"):
        load_classmap(bad)
    bad.write_text(f"label_names: {ROOT}/config/classes/imaterialist_fashion_2018_labels.csv\nclasses:\n  a: [Capes]\n")
    with pytest.raises(FashionError, match="'Capes' is not a label name or id"):
        load_classmap(bad)


def float_paths(cfg) -> list[tuple]:
    """Where every float of a loaded config sits in params.yaml (list items by index)."""
    out = []

    def walk(value, path):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, (*path, k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, (*path, i))
        elif isinstance(value, float):
            out.append(path)

    walk(dataclasses.asdict(cfg), ())
    return out


def dotted(path: tuple) -> str:
    return "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in path).lstrip(".")


def set_at(data, path: tuple, value) -> None:
    for k in path[:-1]:
        data = data[k]
    data[path[-1]] = value


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_every_float_param_refuses_nan_and_infinity(params, bad):
    paths = float_paths(write(copy.deepcopy(params)))
    for path in [
        ("download", "timeout_s"),
        ("download", "deadline_s"),
        ("crop", "margin"),
        ("train", "hyper", "learning_rate"),
        ("train", "architectures", "vgg16", "learning_rate"),
        ("tune", "grids", "lr_decay", "learning_rate", 0),
        ("tune", "ray", "num_gpus"),
        ("finetune", "min_delta"),
    ]:
        assert path in paths
    for path in paths:
        changed = copy.deepcopy(params)
        set_at(changed, path, bad)
        with pytest.raises(FashionError) as caught:
            write(changed)
        assert str(caught.value) == f"params.yaml: {dotted(path)} must be a finite number, not {bad!r}"


@pytest.mark.parametrize("value", ["1e999", "-1.0e400", 10**400])
def test_a_number_beyond_every_float_is_refused_as_infinite(params, value):
    params["download"]["timeout_s"] = value
    with pytest.raises(FashionError) as caught:
        write(params)
    assert str(caught.value).startswith("params.yaml: download.timeout_s must be a finite number, not ")
    assert "\n" not in str(caught.value)


def test_a_margin_too_large_to_compute_with_is_refused(params):
    """crop.margin: 1e300 overflowed to infinity in the box arithmetic, a traceback for every image."""
    params["crop"]["margin"] = 1e300
    with pytest.raises(FashionError) as caught:
        write(params)
    assert str(caught.value) == "params.yaml: crop.margin must be at most 10, not 1e+300"
    params["crop"]["margin"] = config.MAX_MARGIN
    assert write(params).crop.margin == 10.0


@pytest.mark.parametrize("name", ["../x", "a;b", "a b", "a/b", "Source", "", "é", "a\nb", "x$(id)"])
def test_a_dataset_name_outside_a_z_0_9_and_underscore_is_refused(params, name):
    params["datasets"][name] = params["datasets"].pop("target")
    with pytest.raises(FashionError) as caught:
        write(params)
    assert str(caught.value) == (
        f"params.yaml: datasets: the dataset name {name!r} may hold only a-z, 0-9 and _ "
        "(it goes into dvc.yaml commands and output paths)"
    )


def test_a_dataset_name_yaml_reads_as_a_number_must_be_quoted(params):
    params["datasets"][2021] = params["datasets"].pop("target")
    with pytest.raises(FashionError) as caught:
        write(params)
    assert str(caught.value) == "params.yaml: datasets: the key 2021 must be text (write it in quotes)"
    params["datasets"]["2021"] = params["datasets"].pop(2021)
    assert set(write(params).datasets) == {"source", "2021"}


def test_dataset_names_of_lowercase_letters_digits_and_underscores_load(params):
    params["datasets"]["2nd_target"] = params["datasets"].pop("target")
    assert set(write(params).datasets) == {"source", "2nd_target"}


def with_line(after: str, line: str) -> list[str]:
    """The repository's params.yaml with `line` inserted after the line that starts with `after`."""
    lines = (ROOT / "params.yaml").read_text().splitlines(keepends=True)
    at = next(i for i, text in enumerate(lines) if text.startswith(after))
    return lines[: at + 1] + [line] + lines[at + 1 :]


@pytest.mark.parametrize(
    "after,line,key",
    [
        ("  size: 48", "  size: 64\n", "crop.size"),
        ("seed:", "seed: 7\n", "seed"),
        ("    learning_rate: 0.001 ", "    learning_rate: 0.1   # the one kept\n", "train.hyper.learning_rate"),
        ("  source:", "  source:\n", "datasets.source"),
    ],
)
def test_a_key_written_twice_is_refused_naming_the_key_and_both_lines(params, after, line, key):
    lines = with_line(after, line)
    Path("params.yaml").write_text("".join(lines))
    first = next(i for i, text in enumerate(lines) if text.startswith(after)) + 1
    with pytest.raises(FashionError) as caught:
        config.load("params.yaml")
    assert str(caught.value) == (
        f"params.yaml:{first + 1}: duplicate key {key} (first on line {first}); YAML would keep only the last"
    )


def test_a_key_written_twice_in_a_flow_mapping_is_refused(params):
    text = (ROOT / "params.yaml").read_text()
    text = text.replace("vgg16: {learning_rate: 0.0001", "vgg16: {learning_rate: 0.0001, learning_rate: 0.1")
    Path("params.yaml").write_text(text)
    with pytest.raises(FashionError, match=r"^params.yaml:\d+: duplicate key train.architectures.vgg16.learning_rate "):
        config.load("params.yaml")


def test_a_merge_key_that_its_mapping_overrides_is_no_duplicate(params):
    text = (ROOT / "params.yaml").read_text()
    text = text.replace("  last_layer:  ", "  last_layer: &retrain", 1)
    text = text.replace("  whole_model:  ", "  whole_model:\n    <<: *retrain\n  ", 1)
    Path("params.yaml").write_text(text)
    cfg = config.load("params.yaml")
    assert (cfg.finetune.whole_model.learning_rate, cfg.finetune.last_layer.learning_rate) == (0.0001, 0.001)
