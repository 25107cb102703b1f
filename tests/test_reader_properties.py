"""Property-based tests of the annotation readers: whatever the bytes, every line or entry is
either read or dropped with its file, line (or index) and a reason, and nothing raises but a
one-line FashionError for a file that cannot be read at all."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import fixtures
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fashioncat.data import datasets
from fashioncat.data.classmap import load_classmap
from fashioncat.data.datasets import deepfashion, imaterialist
from fashioncat.data.records import DROP_FIELDS, drop_rows
from fashioncat.errors import FashionError
from fashioncat.io import write_csv

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
IMAGES = ["img/Folder_1/a.jpg", "img/Folder_2/b.jpg"]  # real files in every generated tree

# Tokens a list file's columns are made of: real names and numbers, and anything at all
# (Unicode digits such as '²' or '٣', NUL, escapes, very long numbers).
TOKEN = st.one_of(
    st.sampled_from(
        [
            *IMAGES,
            "../outside.jpg",
            "/etc/passwd",
            "img//Folder_1/a.jpg",
            "1",
            "2",
            "5",
            "0",
            "-1",
            "²",
            "٣",
            "1_0",
            "a\x00b",
        ]
    ),
    st.integers(-(10**30), 10**30).map(str),
    st.text(st.characters(exclude_characters="\n\r", exclude_categories=["Cs"]), min_size=1, max_size=12),
)
SPACE = st.text(st.sampled_from(" \t\x0b\x0c\u00a0\u2003\u3000"), min_size=1, max_size=3)
NUMBER = st.one_of(st.sampled_from(["1", "2", "4", "5", "0", "-1", "+1", "²", "٣", "1_0", "9" * 40]), TOKEN)
NOISE = st.lists(st.tuples(TOKEN, SPACE), max_size=7).map(lambda cols: "".join(t + s for t, s in cols))
ROW = st.tuples(
    st.sampled_from([*IMAGES, "img//Folder_1/a.jpg", "../x.jpg", "img/a\x00.jpg", "/etc/passwd"]),
    st.lists(st.tuples(SPACE, NUMBER), max_size=6),
)
LINE = st.one_of(NOISE, ROW.map(lambda r: r[0] + "".join(s + n for s, n in r[1])))
BODY = st.lists(LINE, max_size=12)


def tree(root: Path, category_lines: list[str], bbox_lines: list[str]) -> None:
    for name in IMAGES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(fixtures.jpeg(fixtures.garment(1)))
    fixtures.list_file(
        root / deepfashion.CLOTH, "category_name  category_type", [f"{c} 1" for c in fixtures.CATEGORIES]
    )
    fixtures.list_file(root / deepfashion.CATEGORY, "image_name  category_label", category_lines)
    fixtures.list_file(root / deepfashion.BBOX, "image_name  x_1  y_1  x_2  y_2", bbox_lines)


def classmap(folder: Path, text: str = fixtures.MAPPING):
    (folder / "map.yaml").write_text(text)
    return load_classmap(folder / "map.yaml")


def numbered(outcomes, name: str) -> list[int]:
    pattern = re.compile(re.escape(name) + r":(\d+)$")
    return sorted(int(m.group(1)) for o in outcomes if (m := pattern.match(o.origin)))


@SETTINGS
@given(category=BODY, bbox=BODY)
@example(
    category=[f"{IMAGES[0]} \u00b2", f"{IMAGES[1]} \u0663", "img/a\x00.jpg 1"],
    bbox=[f"{IMAGES[0]} 1 \u00b2 3 4", "img/a\x00.jpg 1 1 2 2"],
)
def test_every_deepfashion_line_is_read_or_dropped_with_file_line_and_reason(category, bbox):
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "df"
        tree(root, category, bbox)
        parsed = deepfashion.read(root, classmap(Path(folder)))
        write_csv(Path(folder) / "dropped.csv", drop_rows(parsed.drops), DROP_FIELDS)  # as crop reports them
    # list lines 1 and 2 are the count and the header; blank lines carry nothing
    wanted = [n for n, line in enumerate(category, start=3) if line.strip()]
    assert numbered(parsed.records + parsed.drops, deepfashion.CATEGORY) == wanted
    assert all(d.reason for d in parsed.drops)
    box_drops = numbered(parsed.drops, deepfashion.BBOX)
    assert set(box_drops) <= {n for n, line in enumerate(bbox, start=3) if line.strip()}
    assert len(box_drops) == len(set(box_drops))
    images = [r.image for r in parsed.records]
    assert len(images) == len(set(images)) and set(images) <= set(IMAGES) | {"img//Folder_1/a.jpg"}


@SETTINGS
@given(data=st.binary(max_size=400), which=st.sampled_from([deepfashion.CATEGORY, deepfashion.BBOX]))
def test_random_bytes_in_a_deepfashion_list_file_never_raise(data, which):
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "df"
        tree(root, [f"{IMAGES[0]} 1"], [f"{IMAGES[0]} 1 1 20 20"])
        (root / which).write_bytes(data)
        parsed = deepfashion.read(root, classmap(Path(folder)))
    assert all(d.reason and re.fullmatch(r"Anno/list_\w+\.txt:\d+", d.origin) for d in parsed.drops)


JSON_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.sampled_from(["62", "190", "17", "../x", "file:remote/1.jpg", "\ud800", "1\u00b2"]),
)
JSON_VALUE = st.recursive(
    JSON_SCALAR, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
)
# mostly the ids that both lists use, so that annotations meet their URLs
IDS = st.one_of(st.sampled_from(["1", "2"]), st.sampled_from(["1", "x-1", "²", "\ud800", "", "../1"]), JSON_SCALAR)
LABELS = st.lists(st.sampled_from(["62", "190", "193", "201", "17", 62, None]), max_size=3)
URLS = st.sampled_from(["file:remote/1.jpg", "http://h/x.jpg", "\ud800", "a\x00b", "", " ", "http://[::1"])
ANNOTATION = st.one_of(
    st.fixed_dictionaries({"imageId": IDS, "labelId": st.one_of(LABELS, JSON_VALUE)}, optional={"x": JSON_VALUE}),
    JSON_VALUE,
)
IMAGE = st.one_of(
    st.fixed_dictionaries({"imageId": st.sampled_from(["1", "2"]), "url": URLS}),
    st.fixed_dictionaries({"imageId": IDS, "url": st.one_of(URLS, JSON_SCALAR)}),
    JSON_VALUE,
)


@SETTINGS
@given(annotations=st.lists(ANNOTATION, max_size=8), images=st.lists(IMAGE, max_size=8))
@example(annotations=[{"imageId": "1", "labelId": ["62"]}], images=[{"imageId": "1", "url": "\ud800"}])
@example(annotations=[{"imageId": "\ud800", "labelId": ["62"]}], images=[])
def test_every_imaterialist_annotation_is_read_or_dropped_with_its_index_and_reason(annotations, images):
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "raw"
        (root / imaterialist.ANNOTATIONS).mkdir(parents=True)
        path = root / imaterialist.ANNOTATIONS / "train.json"
        path.write_text(json.dumps({"images": images, "annotations": annotations}))
        mapping = classmap(Path(folder), fixtures.IM_MAPPING)
        found = imaterialist.entries(path, mapping)
        assert [e.origin for e in found] == [f"train.json: annotations[{i}]" for i in range(len(annotations))]
        for entry in found:
            assert entry.problem or (entry.label in mapping.classes and isinstance(entry.url, str))
            if not entry.problem:
                imaterialist.image_path(entry)  # where download would put it
        parsed = datasets.read("imaterialist", root, mapping)  # crop's view: nothing downloaded
        write_csv(Path(folder) / "dropped.csv", drop_rows(parsed.drops), DROP_FIELDS)  # as crop reports them
    assert not parsed.records and len(parsed.drops) == len(annotations)
    assert all(d.reason for d in parsed.drops)


@SETTINGS
@given(data=st.binary(max_size=300))
def test_random_bytes_as_imaterialist_json_are_one_line_errors(data):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "train.json"
        path.write_bytes(data)
        try:
            imaterialist.load_json(path)
        except FashionError as exc:
            assert str(exc).startswith(str(path)) and "\n" not in str(exc)
