"""fashioncat.data.samples: DeepFashion and iMaterialist samples that the paper's class maps read unchanged."""

from __future__ import annotations

import urllib.request
from collections import Counter
from pathlib import Path

from fashioncat.data import samples
from fashioncat.data.classmap import load_classmap
from fashioncat.data.datasets import deepfashion, imaterialist

ROOT = Path(__file__).resolve().parents[2]
DEEPFASHION_MAP = ROOT / "config/classes/deepfashion_paper.yaml"
IMATERIALIST_MAP = ROOT / "config/classes/imaterialist_paper.yaml"


def test_deepfashion_samples_give_every_paper_class_its_images_and_drop_nothing(tmp_path):
    assert samples.deepfashion(tmp_path, DEEPFASHION_MAP, per_class=2) == 20
    parsed = deepfashion.read(tmp_path, load_classmap(DEEPFASHION_MAP))
    assert parsed.drops == []
    assert Counter(r.label for r in parsed.records) == {c: 2 for c in load_classmap(DEEPFASHION_MAP).classes}
    assert all(r.box is not None for r in parsed.records)
    header = (tmp_path / "Anno/list_category_cloth.txt").read_text().splitlines()[:2]
    assert header == ["50", "category_name  category_type"]  # the release's 50 categories


def test_imaterialist_samples_map_to_one_class_each_and_are_served_at_their_urls(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    with samples.serve(served) as url:
        assert samples.imaterialist(tmp_path / "im", IMATERIALIST_MAP, 2, url, served) == 20
        classmap = load_classmap(IMATERIALIST_MAP)
        entries = [
            e
            for name in ("train.json", "validation.json")
            for e in imaterialist.entries(tmp_path / "im" / name, classmap)
        ]
        assert [e.problem for e in entries] == [""] * 20
        assert Counter(e.label for e in entries) == {c: 2 for c in classmap.classes}
        with urllib.request.urlopen(entries[0].url, timeout=10) as response:
            assert response.read() == (served / f"{entries[0].image_id}.jpg").read_bytes()
