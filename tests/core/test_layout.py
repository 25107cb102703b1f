"""The package's layout rules and the facts dvc.yaml repeats from the code, checked."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fashioncat.contracts import EXPERIMENTS, STEPS
from fashioncat.deps import closure

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = yaml.safe_load((ROOT / "dvc.yaml").read_text())
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


def _script(stage: dict) -> Path:
    body = stage.get("do", stage)
    return ROOT / next(d for d in body["deps"] if d.startswith("stages/"))


def _src_deps(stage: dict) -> set[Path]:
    body = stage.get("do", stage)
    return {ROOT / d for d in body["deps"] if d.startswith("src/")}


@pytest.mark.parametrize("name", sorted(PIPELINE["stages"]))
def test_code_deps_are_the_import_closure(name):
    stage = PIPELINE["stages"][name]
    expected = closure(_script(stage), ROOT / "src")
    declared = _src_deps(stage)
    missing = sorted(str(p.relative_to(ROOT)) for p in expected - declared)
    extra = sorted(str(p.relative_to(ROOT)) for p in declared - expected)
    assert not missing and not extra, f"{name}: missing {missing}, not imported {extra} (python -m fashioncat.deps)"


def test_library_halves_keep_tensorflow_out():
    """data/, reporting/ and the core modules never import TensorFlow or Keras."""
    for folder in ("data", "reporting"):
        for path in (ROOT / "src/fashioncat" / folder).rglob("*.py"):
            text = path.read_text()
            assert "import tensorflow" not in text and "import keras" not in text, path
    for name in ("config", "contracts", "io", "stage", "errors", "deps"):
        text = (ROOT / f"src/fashioncat/{name}.py").read_text()
        assert "import tensorflow" not in text and "import keras" not in text, name


# The layers, lowest first: a module may import its own layer and those below it. Reporting reads
# files: it may import the core and the data half's plain helpers, never model/ or annotate/.
LAYERS = {"core": 0, "data": 1, "reporting": 1, "model": 2, "annotate": 3}


def _layer(dotted: str) -> str:
    parts = dotted.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in LAYERS else "core"


def _import_graph() -> dict[str, set[str]]:
    """Module -> the fashioncat modules it imports anywhere in its text (lazy imports in functions too)."""
    import ast

    src = ROOT / "src"
    graph = {}
    for path in (src / "fashioncat").rglob("*.py"):
        module = ".".join(path.relative_to(src).with_suffix("").parts).removesuffix(".__init__")
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("fashioncat"):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    found.add(full if (src / Path(*full.split("."))).with_suffix(".py").is_file() else node.module)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("fashioncat"))
        graph[module] = {m for m in found if m != module and not module.startswith(m + ".") and m != "fashioncat"}
    return graph


def test_the_import_graph_points_down_the_layers():
    upward = sorted(
        f"{module} -> {target}"
        for module, targets in _import_graph().items()
        for target in targets
        if module != "fashioncat.__main__"  # the command line wires every layer together, like a stage
        and (
            LAYERS[_layer(target)] > LAYERS[_layer(module)]
            or (_layer(target) == "reporting" and _layer(module) in ("model", "annotate", "data"))
        )
    )
    assert upward == []


def test_the_import_graph_has_no_circle():
    graph = _import_graph()
    circles = set()

    def visit(module, path):
        for target in graph.get(module, ()):
            if target in path:
                cycle = path[path.index(target) :]
                circles.add(" -> ".join(cycle + [target]))
            elif len(path) < 12:
                visit(target, [*path, target])

    for module in graph:
        visit(module, [module])
    assert circles == set()


def test_the_layer_rules_catch_an_upward_import_and_a_circle():
    assert LAYERS[_layer("fashioncat.reporting.plots")] == 1 and _layer("fashioncat.paper") == "core"
    assert LAYERS[_layer("fashioncat.model.trials")] > LAYERS[_layer("fashioncat.data.records")]
    assert _layer("fashioncat.annotate.cli") == "annotate"


def test_tuning_chain_in_dvc_yaml_follows_the_steps():
    chain = PIPELINE["stages"]["tune"]["foreach"]
    assert tuple(chain) == STEPS
    starts = [chain[step]["start"] for step in STEPS]
    assert starts == ["data/tune/start.json"] + [f"data/tune/{step}.json" for step in STEPS[:-1]]
    tuned = next(v["tuned"] for v in PIPELINE["vars"] if "tuned" in v)
    assert tuned == f"data/tune/{STEPS[-1]}.json"


def test_transfer_experiments_in_dvc_yaml_are_the_codes():
    assert tuple(PIPELINE["stages"]["finetune"]["foreach"]) == EXPERIMENTS
    summary_deps = PIPELINE["stages"]["finetune_summary"]["deps"]
    assert [d for d in summary_deps if d.startswith("metrics/details/finetune/")] == [
        f"metrics/details/finetune/{name}.json" for name in EXPERIMENTS
    ]


def test_training_curves_cover_every_architecture_in_params():
    curves = {}
    for entry in PIPELINE["plots"]:
        if isinstance(entry, dict):
            ((title, spec),) = entry.items()
            curves[title] = set(spec["y"])
    for title, metric in (
        ("Table 1 training loss (train and val, per architecture)", "loss"),
        ("Table 1 training accuracy (train and val, per architecture)", "accuracy"),
    ):
        expected = {
            f"dvclive/train/{arch}/plots/metrics/{split}/{metric}.tsv"
            for arch in PARAMS["train"]["architectures"]
            for split in ("train", "val")
        }
        assert curves[title] == expected, title


@pytest.mark.parametrize("name", sorted(set(PIPELINE["stages"]) - {"check_params"}))
def test_every_stage_waits_for_the_params_check(name):
    body = PIPELINE["stages"][name].get("do", PIPELINE["stages"][name])
    assert "data/params.ok" in body["deps"]


def test_declared_params_resolve_as_dvc_resolves_them():
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    from fashioncat.stage import declared_params

    with Repo(str(ROOT)) as repo:
        for stage in repo.index.stages:
            theirs = [k for d in stage.deps if isinstance(d, ParamsDependency) for k in d.params]
            assert declared_params(stage.addressing, ROOT / "dvc.yaml") == theirs, stage.addressing


def test_a_stage_reading_an_undeclared_key_fails_naming_it():
    from fashioncat.config import load
    from fashioncat.declared import Declared
    from fashioncat.errors import FashionError

    cfg = Declared(load(ROOT / "params.yaml"), ["seed", "train.image_size", "datasets.source.per_class"], "demo")
    assert cfg.seed == PARAMS["seed"] and cfg.train.image_size == PARAMS["train"]["image_size"]
    assert cfg.datasets["source"].per_class == PARAMS["datasets"]["source"]["per_class"]
    with pytest.raises(FashionError, match="stage demo reads params.yaml key train.batch_size"):
        _ = cfg.train.batch_size
    with pytest.raises(FashionError, match="key datasets.target"):
        cfg.datasets["target"]


def test_config_methods_read_through_the_view_too():
    from fashioncat.config import load
    from fashioncat.declared import Declared
    from fashioncat.errors import FashionError

    cfg = Declared(load(ROOT / "params.yaml"), ["datasets.source.format"], "demo")
    assert cfg.dataset("source").format == PARAMS["datasets"]["source"]["format"]
    with pytest.raises(FashionError, match="key datasets.source.classes"):
        _ = cfg.dataset("source").classes


def _entries(body: dict, section: str) -> dict[str, dict]:
    """path -> options of a stage's outs or metrics (options {} for a bare path)."""
    out = {}
    for entry in body.get(section, []):
        out.update({entry: {}} if isinstance(entry, str) else {k: v or {} for k, v in entry.items()})
    return out


@pytest.mark.parametrize(
    "name", sorted(n for n, s in PIPELINE["stages"].items() if "--details" in s.get("do", s)["cmd"])
)
def test_details_are_plain_outputs_and_only_headlines_are_metrics(name):
    body = PIPELINE["stages"][name].get("do", PIPELINE["stages"][name])
    words = body["cmd"].split()
    details = words[words.index("--details") + 1]
    assert details.startswith("metrics/details/")
    assert _entries(body, "outs")[details] == {"cache": False}
    headline = words[words.index("--metrics") + 1] if "--metrics" in words else None
    assert list(_entries(body, "metrics")) == ([headline] if headline else [])
    if headline:
        assert details == headline.replace("metrics/", "metrics/details/", 1)


def test_headline_picks_nested_keys_and_names_a_missing_one():
    from fashioncat.stage import headline_of

    report = {"best": "b", "archs": {"x": {"acc": 0.5, "s": 3}, "y": {"acc": 0.7, "s": 4}}, "n": 9}
    assert headline_of(report, ["best", "archs.*.acc"]) == {
        "best": "b",
        "archs": {"x": {"acc": 0.5}, "y": {"acc": 0.7}},
    }
    assert headline_of(report, []) == {}
    with pytest.raises(KeyError, match="archs.x.f1"):
        headline_of(report, ["archs.*.f1"])
