"""Property-based tests of the annotation readers: whatever the bytes, every line or entry is
either read or dropped with its file, line (or index) and a reason, and nothing raises but a
one-line FashionError for a file that cannot be read at all."""

from __future__ import annotations

import json
import re
import tempfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import fixtures
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fashioncat.annotate import review_answers, review_import
from fashioncat.data import corrections, datasets
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
def test_random_bytes_in_a_deepfashion_list_file_are_read_or_one_line_naming_file_and_line(data, which):
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "df"
        tree(root, [f"{IMAGES[0]} 1"], [f"{IMAGES[0]} 1 1 20 20"])
        (root / which).write_bytes(data)
        try:
            parsed = deepfashion.read(root, classmap(Path(folder)))
        except FashionError as exc:  # a count line or header line that is not one (issue 33: rows were lost)
            assert re.match(re.escape(str(root / which)) + r"(:[12])?: ", str(exc)) and "\n" not in str(exc)
            return
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


# The Label Studio export of the review queue (`python -m fashioncat corrections`): random valid
# exports, whose newest answer per image must win whatever their order and UTC offsets, and
# exports with one field of a wrong JSON type, which must be one-line FashionErrors.

LS_CLASSES = ["dress", "coat", "bag"]
LS_IMAGES = {"img/a.jpg": "dress", "img/b.jpg": "coat", "img/c.jpg": "bag"}  # image -> label the dataset gives it
LS_BASE = datetime(2026, 1, 1, tzinfo=UTC)
LS_ANSWER = st.fixed_dictionaries(
    {
        "image": st.sampled_from(sorted(LS_IMAGES)),
        "label": st.sampled_from(LS_CLASSES),
        "micros": st.integers(0, 10**14),  # the instant, after LS_BASE
        "offset": st.integers(-14 * 60, 14 * 60),  # minutes east of UTC it is written in
        "zulu": st.booleans(),  # a UTC time written with Z rather than +00:00
        "key": st.sampled_from(["updated_at", "created_at"]),
        "cancelled": st.booleans(),
        "task": st.integers(0, 2),  # several tasks of one image: imported twice, or reviewed twice
        "export": st.integers(0, 1),
    }
)
LS_ANSWERS = st.lists(LS_ANSWER, max_size=14, unique_by=lambda a: a["micros"])


def ls_time(answer: dict) -> str:
    instant = LS_BASE + timedelta(microseconds=answer["micros"])
    text = instant.astimezone(timezone(timedelta(minutes=answer["offset"]))).isoformat()
    return text.replace("+00:00", "Z") if answer["zulu"] else text


def ls_export(answers: list[dict], draw) -> list[dict]:
    """The tasks holding `answers`, in an order `draw` picks; each answer by the user numbered as its place."""
    tasks: dict[tuple, dict] = {}
    for number, answer in enumerate(answers):
        image = answer["image"]
        task = tasks.setdefault(
            (image, answer["task"]),
            {
                "id": len(tasks) + 1,
                "data": {"source_image": image, "given_label": LS_IMAGES[image]},
                "annotations": [],
            },
        )
        task["annotations"].append(
            {
                "result": [{"type": "choices", "value": {"choices": [answer["label"]]}}],
                "completed_by": number,
                "was_cancelled": answer["cancelled"],
                answer["key"]: ls_time(answer),
            }
        )
    return draw(st.permutations(list(tasks.values())))


def ls_expected(answers: list[dict]) -> list[tuple[str, str, str, str, str]]:
    """One row per image with a finished answer that is not the given label: the newest answer."""
    rows = []
    for image, shown in sorted(LS_IMAGES.items()):
        live = [(a["micros"], n, a) for n, a in enumerate(answers) if a["image"] == image and not a["cancelled"]]
        if any(a["label"] != shown for _, _, a in live):
            _, number, newest = max(live, key=lambda x: x[0])
            rows.append((image, shown, newest["label"], str(number), ls_time(newest)))
    return rows


@SETTINGS
@given(answers=LS_ANSWERS, data=st.data())
def test_in_a_label_studio_export_the_newest_answer_per_image_wins_whatever_the_order_and_utc_offset(answers, data):
    export = json.loads(json.dumps(ls_export(answers, data.draw)))
    found, unanswered = review_answers.read(export, "review.json", LS_CLASSES)
    assert len(found) == sum(not a["cancelled"] for a in answers)
    assert len(unanswered) == sum(all(a["was_cancelled"] for a in task["annotations"]) for task in export)
    rows, _ = review_import.merged([], found, Path("source.csv"))
    assert [(c.image, c.old_label, c.new_label, c.by, c.at) for c in rows] == ls_expected(answers)


@SETTINGS
@given(answers=LS_ANSWERS, first=st.integers(0, 1), data=st.data())
def test_corrections_from_two_label_studio_exports_end_the_same_whichever_is_imported_first(answers, first, data):
    """Every answer here corrects its image: a confirmation of an image without a row leaves no row, so no time."""
    answers = [a for a in answers if a["label"] != LS_IMAGES[a["image"]]]
    records = "".join(f"c{i}.png,{label},{image}\n" for i, (image, label) in enumerate(LS_IMAGES.items()))
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        (folder / "records.csv").write_text("image,label,source_image\n" + records)
        out = folder / "source.csv"
        for n in (first, 1 - first, first):  # the first export again at the end changes nothing
            path = folder / f"review{n}.json"
            path.write_text(json.dumps(ls_export([a for a in answers if a["export"] == n], data.draw)))
            review_import.import_export(path, out, LS_CLASSES, folder / "records.csv")
        rows = corrections.read(out, LS_CLASSES)
    expected = [(image, old, new, at) for image, old, new, _, at in ls_expected(answers)]
    assert [(c.image, c.old_label, c.new_label, c.at) for c in rows] == expected


def _not(*kinds: type):
    """JSON values of none of `kinds` (a bool is not an int here, as in JSON)."""
    return JSON_VALUE.filter(lambda v: not isinstance(v, kinds) or (isinstance(v, bool) and bool not in kinds))


NONE = type(None)
# where in a one-task export a field sits, and the values of a wrong JSON type there
LS_CORRUPTIONS = {
    (): _not(dict),
    ("data",): _not(dict, NONE),
    ("data", "source_image"): _not(str),
    ("data", "given_label"): _not(str),
    ("annotations",): _not(list, NONE),
    ("annotations", 0): _not(dict),
    ("annotations", 0, "was_cancelled"): _not(bool, NONE),
    ("annotations", 0, "result"): _not(list, NONE),
    ("annotations", 0, "result", 0): _not(dict),
    ("annotations", 0, "result", 0, "type"): _not(str, NONE),
    ("annotations", 0, "result", 0, "value"): _not(dict, NONE),
    ("annotations", 0, "result", 0, "value", "choices"): _not(list, NONE),
    ("annotations", 0, "result", 0, "value", "choices", 0): _not(str),
    ("annotations", 0, "updated_at"): _not(str, NONE),
    ("annotations", 0, "created_at"): _not(str, NONE),
    ("annotations", 0, "completed_by"): _not(str, int, dict, NONE),
}


@SETTINGS
@given(
    answers=LS_ANSWERS.filter(bool),
    site=st.sampled_from(sorted(LS_CORRUPTIONS)),
    index=st.integers(0, 5),
    data=st.data(),
)
def test_a_wrong_json_type_anywhere_in_a_label_studio_export_is_a_one_line_fashion_error(answers, site, index, data):
    export = ls_export(answers, data.draw)
    index %= len(export)
    value = data.draw(LS_CORRUPTIONS[site])
    if site:
        node = export[index]
        for key in site[:-1]:
            node = node[key]
        node[site[-1]] = value
    else:
        export[index] = value
    try:
        review_answers.read(json.loads(json.dumps(export)), "review.json", LS_CLASSES)
    except FashionError as exc:
        assert str(exc).startswith(f"review.json[{index}]") and "\n" not in str(exc), str(exc)
    else:
        raise AssertionError(f"{site} = {value!r} was read")


@SETTINGS
@given(
    answers=LS_ANSWERS.filter(bool),
    site=st.sampled_from([("annotations", 0, "updated_at"), ("data", "given_label"), ("annotations", 0, "choice")]),
    text=st.one_of(
        st.text(),
        st.sampled_from(
            [
                "0001-01-01T00:00:00+05:00",
                "9999-12-31T23:59:59-05:00",
                "2026-11-30T07:00:00+25:00",
                "2026-11-30",
                "2026-11-30T07:00:00.123456789Z",
                "cafe\u0301",
                "coat ",
                "COAT",
                "\ud800",
            ]
        ),
    ),
    data=st.data(),
)
def test_any_text_as_a_label_studio_time_or_label_is_read_or_a_one_line_fashion_error(answers, site, text, data):
    export = ls_export(answers, data.draw)
    if site[-1] == "choice":
        export[0]["annotations"][0]["result"][0]["value"]["choices"] = [text]
    elif site[0] == "data":
        export[0]["data"]["given_label"] = text
    else:
        export[0]["annotations"][0]["updated_at"] = text
    try:
        found, _ = review_answers.read(json.loads(json.dumps(export)), "review.json", LS_CLASSES)
    except FashionError as exc:
        assert str(exc).startswith("review.json[0]") and "\n" not in str(exc), str(exc)
    else:
        assert all(a.label in LS_CLASSES and a.given in LS_CLASSES and a.when.tzinfo is UTC for a in found)
