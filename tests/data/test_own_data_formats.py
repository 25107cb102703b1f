"""The COCO, DeepFashion2, ImageFolder and CSV readers, their options, download and crop, on tiny
fixtures in each published format, bad cases included (issue 35, "Your own data")."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
import shutil
import tarfile
from collections import Counter, defaultdict
from pathlib import Path

import fixtures_own_data as own
import numpy as np
import pytest
import yaml
from PIL import Image

from fashioncat import config
from fashioncat.data import datasets, manifest
from fashioncat.data.classmap import load_classmap
from fashioncat.data.crop import crop_all, cropped_name
from fashioncat.data.download import dataset_tree
from fashioncat.data.records import Record
from fashioncat.errors import FashionError

ROOT = Path(__file__).resolve().parents[2]


def crop_image(shards: Path, row: dict) -> Image.Image:
    """The crop stage's image for `row`, read from its shard with Python's own tar reader."""
    shard, name = row["image"].split("/")[-2:]
    with tarfile.open(shards / shard) as tar:
        return Image.open(io.BytesIO(tar.extractfile(name).read()))


def mapping(tmp_path: Path, text: str):
    path = tmp_path / "map.yaml"
    path.write_text(text)
    return load_classmap(path)


def cropped(parsed, root: Path, out: Path):
    """The crop step on `parsed`: manifest rows, and every reason counted (the reader's and the crop's)."""
    rows, lost = crop_all(
        parsed.records, root, out, margin=0.0, size=16, fit="stretch", workers=1, image_prefix="data/cropped/x/shards"
    )
    return rows, Counter(d.reason for d in parsed.drops + lost)


def one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text, text
    return text


# --- COCO ---------------------------------------------------------------------------------------


def test_coco_gives_one_crop_per_garment_and_counts_every_bad_annotation(tmp_path):
    root = tmp_path / "fashionpedia"
    planted = own.coco(root)
    parsed = datasets.read("coco", root, mapping(tmp_path, own.COCO_MAPPING), own.COCO_OPTIONS)
    rows, reasons = cropped(parsed, root, tmp_path / "out")
    assert reasons == Counter(planted)
    assert Counter(r["label"] for r in rows) == {"top": 3, "trousers": 3, "skirt": 2, "dress": 2}
    assert len({r["image"] for r in rows}) == len(rows) == 10  # two garments of one photo: two files
    per_photo = defaultdict(set)
    for row in rows:
        per_photo[row["source_image"]].add(row["group"])
    assert len(per_photo) == 6 and all(len(groups) == 1 for groups in per_photo.values())
    assert sum(1 for r in rows if r["source_image"] == "train/00000001.jpg") == 2
    assert rows[0]["origin"].startswith("annotations/instances_train.json: annotations[")
    first = next(r for r in parsed.records if r.origin.endswith("annotations[0]"))
    assert first.box == (6, 6, 40, 60) and first.item == "1000"


def test_coco_crop_is_the_annotated_garment(tmp_path):
    root = tmp_path / "coco"
    own.coco(root, photos=1, bad=False)
    parsed = datasets.read("coco", root, mapping(tmp_path, own.COCO_MAPPING), own.COCO_OPTIONS)
    rows, _ = crop_all(
        parsed.records, root, tmp_path / "o", margin=0, size=20, fit="stretch", workers=1, image_prefix="p"
    )
    colours = [np.asarray(crop_image(tmp_path / "o", r)).reshape(-1, 3).mean(0) for r in rows]
    assert len(colours) == 2 and np.abs(colours[0] - colours[1]).max() > 10  # two rectangles, two colours


@pytest.mark.parametrize(
    "field,text,kept",
    [
        ("supercategory", "classes:\n  upper: [upperbody]\n  lower: [lowerbody]\n", {"upper": 3, "lower": 5}),
        ("id", 'classes:\n  top: ["0"]\n  dress: ["10"]\n', {"top": 3, "dress": 2}),
    ],
)
def test_coco_maps_supercategories_or_ids_when_the_options_say_so(tmp_path, field, text, kept):
    root = tmp_path / "coco"
    own.coco(root, bad=False)
    options = dataclasses.replace(own.COCO_OPTIONS, category_field=field)
    parsed = datasets.read("coco", root, mapping(tmp_path, text), options)
    assert Counter(r.label for r in parsed.records) == kept


def test_coco_crowd_annotations_are_kept_when_the_options_say_keep(tmp_path):
    root = tmp_path / "coco"
    own.coco(root)
    classmap = mapping(tmp_path, own.COCO_MAPPING)
    dropped = datasets.read("coco", root, classmap, own.COCO_OPTIONS)
    kept = datasets.read("coco", root, classmap, dataclasses.replace(own.COCO_OPTIONS, crowd="keep"))
    assert len(kept.records) == len(dropped.records) + 1
    assert "crowd annotation" not in {d.reason for d in kept.drops}


def test_coco_mapping_naming_a_category_the_json_lacks_is_an_error_naming_it(tmp_path):
    root = tmp_path / "coco"
    own.coco(root, photos=2, bad=False)
    with pytest.raises(FashionError) as info:
        datasets.read("coco", root, mapping(tmp_path, "classes:\n  top: [shirt, blouse]\n"), own.COCO_OPTIONS)
    assert "categories 'blouse', 'shirt' are not in" in one_line(info)  # "shirt, blouse" unquoted: two names


def test_the_only_coco_json_is_found_without_options_and_several_ask_to_name_one(tmp_path):
    root = tmp_path / "coco"
    own.coco(root, photos=2, bad=False)
    classmap = mapping(tmp_path, own.COCO_MAPPING)
    parsed = datasets.read("coco", root, classmap, config.CocoOptions(images="train"))
    assert len(parsed.records) == 4 and not parsed.drops
    shutil.copy(root / "annotations/instances_train.json", root / "annotations/instances_val.json")
    with pytest.raises(FashionError) as info:
        datasets.read("coco", root, classmap, config.CocoOptions(images="train"))
    assert "2 COCO annotation JSON found" in one_line(info) and "options.annotations" in str(info.value)
    with pytest.raises(FashionError, match="nope.json: COCO annotations not found"):
        datasets.read("coco", root, classmap, config.CocoOptions(annotations="nope.json"))


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda d: d.pop("categories"), "not a COCO instances file"),
        (lambda d: d.update(images={}), "not a COCO instances file"),
        (
            lambda d: d["categories"].append({"id": 0, "name": "again"}),
            r"categories\[5\]: category id 0 is listed twice",
        ),
        (
            lambda d: d["categories"].append({"name": "no id"}),
            r"categories\[5\] is not an object with an id and a name",
        ),
        (lambda d: d["categories"].append({"id": True, "name": "x"}), r"categories\[5\] is not an object"),
    ],
)
def test_a_coco_file_whose_top_level_or_categories_are_wrong_is_one_line_naming_it(tmp_path, edit, message):
    root = tmp_path / "coco"
    own.coco(root, photos=2, bad=False)
    path = root / "annotations/instances_train.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    with pytest.raises(FashionError) as info:
        datasets.read("coco", root, mapping(tmp_path, own.COCO_MAPPING), own.COCO_OPTIONS)
    assert one_line(info).startswith(str(path)) and re.search(message, str(info.value))


def test_broken_coco_json_names_file_and_line(tmp_path):
    root = tmp_path / "coco"
    own.coco(root, photos=1, bad=False)
    path = root / "annotations/instances_train.json"
    path.write_text('{"images": [],\n "annotations": [\n  {"id": 1,, }\n]}')
    with pytest.raises(FashionError, match=re.escape(f"{path}:3: not valid JSON")):
        datasets.read("coco", root, mapping(tmp_path, own.COCO_MAPPING), own.COCO_OPTIONS)


# --- DeepFashion2 -------------------------------------------------------------------------------


def test_deepfashion2_gives_one_crop_per_item_and_counts_every_bad_one(tmp_path):
    root = tmp_path / "train"
    planted = own.deepfashion2(root)
    parsed = datasets.read("deepfashion2", root, mapping(tmp_path, own.DF2_MAPPING), own.DF2_OPTIONS)
    rows, reasons = cropped(parsed, root, tmp_path / "out")
    assert reasons == Counter(planted)
    assert Counter(r["label"] for r in rows) == {"top": 3, "trousers": 4, "skirt": 3, "dress": 3}
    assert {d.origin for d in parsed.drops if d.reason == "duplicate annotation"} == {"annos/000016.json: item1"}
    assert {r.item for r in parsed.records} == {"item1", "item2"}
    first = [r for r in rows if r["source_image"] == "image/000001.jpg"]
    assert len(first) == 2 and len({r["group"] for r in first}) == 1 and len({r["image"] for r in first}) == 2


def test_deepfashion2_default_options_keep_every_occlusion_and_viewpoint(tmp_path):
    root = tmp_path / "train"
    own.deepfashion2(root)
    parsed = datasets.read("deepfashion2", root, mapping(tmp_path, own.DF2_MAPPING))
    reasons = {d.reason for d in parsed.drops}
    assert "occlusion above max_occlusion" not in reasons and "viewpoint not allowed" not in reasons
    assert "box side under min_box_side" not in reasons


def test_deepfashion2_mapping_naming_no_deepfashion2_category_is_an_error(tmp_path):
    root = tmp_path / "train"
    own.deepfashion2(root, photos=1, bad=False)
    with pytest.raises(FashionError) as info:
        datasets.read("deepfashion2", root, mapping(tmp_path, "classes:\n  top: [short_sleeved_shirt]\n"))
    assert "categories 'short_sleeved_shirt' are not in DeepFashion2's 13 categories" in one_line(info)


def test_a_deepfashion2_folder_without_annos_is_an_error_saying_where_to_point(tmp_path):
    (tmp_path / "DeepFashion2/train/image").mkdir(parents=True)
    with pytest.raises(FashionError, match="missing annos/ \\(point location at train/ or validation/\\)"):
        datasets.read("deepfashion2", tmp_path / "DeepFashion2/train", mapping(tmp_path, own.DF2_MAPPING))


# --- ImageFolder --------------------------------------------------------------------------------


def test_imagefolder_keeps_whole_images_by_folder_and_counts_every_stray_file(tmp_path):
    root = tmp_path / "folders"
    planted = own.imagefolder(root, per_class=4)
    parsed = datasets.read("imagefolder", root, mapping(tmp_path, own.FOLDER_MAPPING))
    rows, reasons = cropped(parsed, root, tmp_path / "out")
    assert reasons == Counter(planted)
    assert Counter(r["label"] for r in rows) == {"top": 4, "dress": 4, "trousers": 4, "skirt": 4}
    assert all(r.box is None for r in parsed.records)
    assert "tops/more/3.PNG" in {r.image for r in parsed.records}
    assert not any(".hidden" in d.origin or "DS_Store" in d.origin for d in parsed.drops)


def test_the_whole_image_is_kept_when_a_record_has_no_box(tmp_path):
    root = tmp_path / "folders"
    own.imagefolder(root, per_class=1, bad=False, size=(30, 30))
    record = next(r for r in datasets.read("imagefolder", root, mapping(tmp_path, own.FOLDER_MAPPING)).records)
    rows, _ = crop_all([record], root, tmp_path / "o", margin=0.5, size=30, fit="stretch", workers=1, image_prefix="p")
    out = np.asarray(crop_image(tmp_path / "o", rows[0]), dtype=float)
    original = np.asarray(Image.open(root / record.image).convert("RGB"), dtype=float)
    assert out.shape == original.shape and np.abs(out - original).mean() < 1  # same size: nothing cut


def test_imagefolder_extensions_come_from_the_options(tmp_path):
    root = tmp_path / "folders"
    own.imagefolder(root, per_class=2, bad=False)
    options = config.ImageFolderOptions(extensions=[".png"])
    parsed = datasets.read("imagefolder", root, mapping(tmp_path, own.FOLDER_MAPPING), options)
    assert len(parsed.records) == 4 and Counter(d.reason for d in parsed.drops) == {"file extension not listed": 4}


# --- CSV ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("bom", [False, True])
def test_kaggle_styles_csv_is_read_and_every_bad_row_counted(tmp_path, bom):
    root = tmp_path / "fashion-product-images"
    planted = own.styles(root, per_class=3, bom=bom)
    parsed = datasets.read("csv", root, mapping(tmp_path, own.STYLES_MAPPING), own.STYLES_OPTIONS)
    rows, reasons = cropped(parsed, root, tmp_path / "out")
    assert reasons == Counter(planted)
    assert Counter(r["label"] for r in rows) == {"top": 3, "dress": 2, "trousers": 3, "skirt": 3}
    assert parsed.records[0] == Record("images/15971.jpg", "top", "styles.csv:2")
    malformed = {d.origin for d in parsed.drops if d.reason == "malformed row"}
    assert malformed == {"styles.csv:16", "styles.csv:17", "styles.csv:18"}


def test_a_csv_without_a_named_column_is_one_line_naming_the_column_and_the_option(tmp_path):
    root = tmp_path / "styles"
    own.styles(root, per_class=1, bad=False)
    options = dataclasses.replace(own.STYLES_OPTIONS, label_column="category")
    with pytest.raises(FashionError) as info:
        datasets.read("csv", root, mapping(tmp_path, own.STYLES_MAPPING), options)
    assert one_line(info).startswith(f"{root / 'styles.csv'}:1: no column 'category' (datasets.<name>.options.label_")
    assert "the header has id, gender, masterCategory" in str(info.value)


@pytest.mark.parametrize(
    "text,message",
    [
        ("", "empty; a CSV table starts with a line naming its columns"),
        ('image,label\n"a.jpg,top\n', "not valid CSV"),
        ("image,label\na.jpg,\xff\n", "not UTF-8 text"),
    ],
)
def test_an_empty_unquoted_or_non_utf8_csv_is_one_line_naming_the_file(tmp_path, text, message):
    root = tmp_path / "table"
    root.mkdir()
    (root / "labels.csv").write_bytes(text.encode("latin-1"))
    with pytest.raises(FashionError) as info:
        datasets.read("csv", root, mapping(tmp_path, own.STYLES_MAPPING))
    assert one_line(info).startswith(str(root / "labels.csv")) and message in str(info.value)


def test_a_csv_with_box_columns_gives_one_crop_per_row_and_xywh_boxes_convert(tmp_path):
    root = tmp_path / "boxes"
    own.write(root / "photos/a.jpg", own.photo(1, [own.BOX_A, own.BOX_B]))
    own.write(
        root / "garments.csv",
        "file;kind;left;top;width;height\n"
        "a.jpg;Tshirts;6;6;34;54\n"
        "a.jpg;Skirts;50;20;40;54\n"
        "a.jpg;Skirts;50;20;40;54\n"  # the same garment again
        "a.jpg;Skirts;50;20;0;54\n"
        "a.jpg;Skirts;50;twenty;40;54\n",
    )
    options = config.CsvOptions(
        image_column="file",
        image_template="photos/{}",
        label_column="kind",
        box_columns=["left", "top", "width", "height"],
        box_format="xywh",
        delimiter=";",
    )
    parsed = datasets.read("csv", root, mapping(tmp_path, own.STYLES_MAPPING), options)
    assert [(r.label, r.box, r.item) for r in parsed.records] == [("top", own.BOX_A, "2"), ("skirt", own.BOX_B, "3")]
    assert [d.reason for d in parsed.drops] == [
        "duplicate annotation row",
        "bounding box has zero area",
        "malformed row",
    ]
    rows, _ = cropped(parsed, root, tmp_path / "out")
    assert len({r["image"] for r in rows}) == 2 and len({r["group"] for r in rows}) == 1


@pytest.mark.parametrize(
    "fmt,write,text,options",
    [
        ("coco", own.coco, own.COCO_MAPPING, own.COCO_OPTIONS),
        ("deepfashion2", own.deepfashion2, own.DF2_MAPPING, own.DF2_OPTIONS),
        ("imagefolder", own.imagefolder, own.FOLDER_MAPPING, None),
        ("csv", own.styles, own.STYLES_MAPPING, own.STYLES_OPTIONS),
    ],
)
def test_every_reader_takes_a_root_relative_to_the_working_folder_as_the_crop_stage_gives_it(
    tmp_path, monkeypatch, fmt, write, text, options
):
    write(tmp_path / "data/raw/source")
    classmap = mapping(tmp_path, text)
    absolute = datasets.read(fmt, tmp_path / "data/raw/source", classmap, options)
    monkeypatch.chdir(tmp_path)
    assert datasets.read(fmt, Path("data/raw/source"), classmap, options) == absolute


# --- crops of one photo in one split ------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("ratios", [(0.7, 0.15, 0.15), (0.5, 0.25, 0.25), (0.34, 0.33, 0.33)])
def test_crops_of_one_photo_always_land_in_the_same_split(crops_of_photos, seed, ratios):
    """`group` is the digest of the photo's pixels, and split never divides a group: however the
    photos and their several garments (of one class or of two) fall, a photo's crops stay together."""
    rows = crops_of_photos
    splits = manifest.split(rows, dict(zip(("train", "val", "test"), ratios)), seed)
    where = {}
    for name, items in splits.items():
        for row in items:
            where.setdefault(row["source_image"], set()).add(name)
    assert sum(len(items) for items in splits.values()) == len(rows)
    assert all(len(names) == 1 for names in where.values()), {k: v for k, v in where.items() if len(v) > 1}
    assert max(Counter(r["source_image"] for r in rows).values()) == 2  # the test does hold multi-crop photos


@pytest.fixture(scope="module")
def crops_of_photos(tmp_path_factory):
    """The crop manifest of 24 COCO photos: most hold two garments (of one class or of two)."""
    tmp = tmp_path_factory.mktemp("photos")
    pairs = [(0, 0), (0, 8), (10, 10), (8, 6), (10, 0), (6, None), (6, 6), (8, None)]
    own.coco(tmp / "coco", photos=24, bad=False, pairs=pairs)
    parsed = datasets.read("coco", tmp / "coco", mapping(tmp, own.COCO_MAPPING), own.COCO_OPTIONS)
    rows, reasons = cropped(parsed, tmp / "coco", tmp / "out")
    assert not reasons and len(rows) == 42
    return rows


# --- download -----------------------------------------------------------------------------------

WRITERS = {
    "coco": lambda root: own.coco(root, photos=2, bad=False),
    "deepfashion2": lambda root: own.deepfashion2(root, photos=2, bad=False),
    "imagefolder": lambda root: own.imagefolder(root, per_class=1, bad=False),
    "csv": lambda root: own.styles(root, per_class=1, bad=False),
}


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_download_copies_a_folder_whole_and_never_links_the_originals(tmp_path, fmt):
    originals = tmp_path / "mine"
    WRITERS[fmt](originals)
    files = sorted(p for p in originals.rglob("*") if p.is_file() and not p.is_symlink())
    report = dataset_tree(fmt, originals, tmp_path / "raw")
    assert report["files"] == len(files) and report["bytes"] == sum(p.stat().st_size for p in files)
    for path in files:
        copy = tmp_path / "raw" / path.relative_to(originals)
        assert copy.read_bytes() == path.read_bytes() and path.stat().st_nlink == 1 and copy.stat().st_nlink == 1


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_download_extracts_an_archive_with_a_top_folder_and_the_reader_reads_it(tmp_path, fmt):
    maps = {"coco": own.COCO_MAPPING, "deepfashion2": own.DF2_MAPPING, "imagefolder": own.FOLDER_MAPPING}
    options = {"coco": own.COCO_OPTIONS, "csv": own.STYLES_OPTIONS}
    WRITERS[fmt](tmp_path / "release" / "My Dataset 2024")
    archive = shutil.make_archive(str(tmp_path / "dataset"), "gztar", tmp_path / "release")
    dataset_tree(fmt, Path(archive), tmp_path / "raw")
    classmap = mapping(tmp_path, maps.get(fmt, own.STYLES_MAPPING))
    parsed = datasets.read(fmt, tmp_path / "raw", classmap, options.get(fmt))
    assert parsed.records and not parsed.drops


@pytest.mark.parametrize(
    "fmt,message",
    [
        ("coco", "not a COCO folder, no annotation JSON at the top or in annotations/"),
        ("deepfashion2", "not a DeepFashion2 set, missing image/ and annos/"),
        ("imagefolder", "not an image folder dataset, no category folders in it"),
        ("csv", "not a CSV dataset, no .csv file at its top"),
    ],
)
def test_download_refuses_a_folder_not_in_the_format_with_one_line(tmp_path, fmt, message):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine/photo.txt").write_text("no dataset here")
    with pytest.raises(FashionError) as info:
        dataset_tree(fmt, tmp_path / "mine", tmp_path / "raw")
    assert one_line(info).startswith(f"{tmp_path / 'mine'}: {message}")
    assert not (tmp_path / "raw").exists()
    with pytest.raises(FashionError, match="dataset location does not exist"):
        dataset_tree(fmt, tmp_path / "nowhere", tmp_path / "raw")


# --- options in params.yaml ---------------------------------------------------------------------


def write_params(data) -> config.Config:
    Path("params.yaml").write_text(yaml.safe_dump(data))
    return config.load("params.yaml")


@pytest.mark.parametrize(
    "fmt,options,message",
    [
        ("deepfashion", {"min_box_side": 8}, "datasets.source.options must be empty: format deepfashion takes no"),
        ("coco", {"category": "name"}, "unknown key datasets.source.options.category \\(allowed: annotations, images"),
        ("coco", {"category_field": "label"}, "datasets.source.options.category_field must be one of name, super"),
        ("coco", {"crowd": "maybe"}, "datasets.source.options.crowd must be one of drop, keep"),
        ("coco", {"min_box_side": -1}, "datasets.source.options.min_box_side must not be negative"),
        ("coco", {"annotations": "../x.json"}, "options.annotations must be a path inside the dataset folder"),
        ("coco", {"images": "/data/train"}, "options.images must be a path inside the dataset folder"),
        ("deepfashion2", {"max_occlusion": 4}, "datasets.source.options.max_occlusion must be 1, 2 or 3"),
        ("deepfashion2", {"viewpoints": [2, 2]}, "options.viewpoints must list some of 1, 2, 3 once each"),
        ("deepfashion2", {"viewpoints": []}, "options.viewpoints must list some of 1, 2, 3 once each"),
        ("deepfashion2", {"viewpoints": 2}, "datasets.source.options.viewpoints must be a list"),
        ("imagefolder", {"extensions": ["jpg"]}, "options.extensions\\[0\\] must be like '.jpg', not 'jpg'"),
        ("imagefolder", {"extensions": []}, "options.extensions must list at least one extension"),
        ("csv", {"image_template": "images/id.jpg"}, "options.image_template must hold {} once"),
        ("csv", {"box_columns": ["x", "y"]}, "options.box_columns must name 4 columns \\(or none: whole images\\)"),
        ("csv", {"box_format": "cxcywh"}, "options.box_format must be one of xyxy, xywh"),
        ("csv", {"delimiter": ";;"}, "options.delimiter must be one character"),
        ("csv", ["file"], "datasets.source.options must be dict, not list"),
    ],
)
def test_bad_dataset_options_are_one_line_naming_the_key(params, fmt, options, message):
    params["datasets"]["source"].update(format=fmt, options=options)
    with pytest.raises(FashionError) as info:
        write_params(params)
    assert re.search(message, one_line(info)), str(info.value)


def test_dataset_options_are_typed_with_defaults_for_what_is_left_out(params):
    params["datasets"]["source"].update(format="coco", options={"min_box_side": 16, "crowd": "keep"})
    params["datasets"]["target"].update(format="imagefolder", options=None)
    cfg = write_params(params)
    assert cfg.dataset("source").reader_options() == config.CocoOptions(min_box_side=16.0, crowd="keep")
    assert cfg.dataset("target").reader_options() == config.ImageFolderOptions()
    del params["datasets"]["target"]["options"]
    with pytest.raises(FashionError, match="missing key datasets.target.options"):
        write_params(params)


def test_the_crop_stage_reads_the_options_only_through_its_declared_key():
    from fashioncat.stage import declared_params

    assert "datasets.source.options" in declared_params("crop@source", ROOT / "dvc.yaml")
    assert "datasets.source.options" not in declared_params("download@source", ROOT / "dvc.yaml")


def test_crop_names_of_one_record_per_image_formats_are_unchanged():
    """The default run (DeepFashion, iMaterialist) writes the very same files as before `item` existed."""
    record = Record("img/Blouse/img_00000001.jpg", "top", "Anno/list_category_img.txt:3", (1, 2, 3, 4))
    assert cropped_name(record) == hashlib.sha1(record.image.encode()).hexdigest()[:20] + ".png"
    assert cropped_name(dataclasses.replace(record, item="item2")) != cropped_name(record)


# --- class maps ---------------------------------------------------------------------------------

# The categories each release names (garments and accessories; parts and attributes aside).
FASHIONPEDIA = (  # github.com/cvdfoundation/fashionpedia, ids 0-26
    "shirt, blouse",
    "top, t-shirt, sweatshirt",
    "sweater",
    "cardigan",
    "jacket",
    "vest",
    "pants",
    "shorts",
    "skirt",
    "coat",
    "dress",
    "jumpsuit",
    "cape",
    "glasses",
    "hat",
    "headband, head covering, hair accessory",
    "tie",
    "glove",
    "watch",
    "belt",
    "leg warmer",
    "tights, stockings",
    "sock",
    "shoe",
    "bag, wallet",
    "scarf",
    "umbrella",
)
MODANET = (  # github.com/eBay/modanet, "Labels", ids 1-13
    "bag",
    "belt",
    "boots",
    "footwear",
    "outer",
    "dress",
    "sunglasses",
    "pants",
    "top",
    "shorts",
    "skirt",
    "headwear",
    "scarf & tie",
)


@pytest.mark.parametrize(
    "name,categories",
    [
        ("fashionpedia_paper.yaml", FASHIONPEDIA),
        ("modanet_paper.yaml", MODANET),
        ("deepfashion2_paper.yaml", datasets.deepfashion2.CATEGORIES),
    ],
)
def test_class_maps_of_public_datasets_have_the_papers_classes_and_mark_every_category_left_out(name, categories):
    paper = load_classmap(ROOT / "config/classes/deepfashion_paper.yaml")
    path = ROOT / "config/classes" / name
    found = load_classmap(path)
    assert found.classes == paper.classes
    assert set(found.lookup) <= set(categories)  # no typo: every label is a real category
    comments = "\n".join(line.split("#", 1)[1] for line in path.read_text().splitlines() if "#" in line)
    left_out = [c for c in categories if c not in found.lookup]
    assert all(c in comments for c in left_out), [c for c in left_out if c not in comments]
    spec = yaml.safe_load(path.read_text())["classes"]
    lines = path.read_text().splitlines()
    for cls, labels in spec.items():  # a class with no category of its own says so
        if not labels:
            assert any(line.strip().startswith(f"{cls}:") and "does not fit" in line for line in lines), cls
