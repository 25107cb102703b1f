"""params.yaml is validated up front, with one line naming the key at fault."""

from pathlib import Path

import pytest
import yaml

from fashioncat import config
from fashioncat.errors import FashionError

ROOT = Path(__file__).resolve().parents[1]


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
        (lambda p: p["datasets"]["target"].update(format="coco"), "datasets.target.format must be one of"),
        (lambda p: p["crop"].pop("margin"), "missing key crop.margin"),
        (lambda p: p["crop"].update(fit="crop"), "crop.fit must be one of"),
        (lambda p: p["train"].update(precision="float16"), "train.precision must be one of auto, float32"),
        (lambda p: p["train"].update(deterministic="no"), "train.deterministic must be true or false"),
        (lambda p: p.update(datasets=[]), "datasets must be a non-empty mapping"),
        (lambda p: p["download"].update(deadline_s=0), "download.deadline_s must be positive"),
        (lambda p: p["final"].update(learning_rate_scale=0), "final.learning_rate_scale must be positive"),
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
