"""The readers and the crop step on tiny fixtures in the real formats, bad cases included."""

import json
import tarfile
from collections import Counter
from pathlib import Path

import fixtures
import pytest

from fashioncat.data import datasets
from fashioncat.data.classmap import load_classmap
from fashioncat.data.crop import crop_all
from fashioncat.data.datasets import imaterialist
from fashioncat.data.records import tally
from fashioncat.errors import FashionError


def mapping(tmp_path, text):
    path = tmp_path / "map.yaml"
    path.write_text(text)
    return load_classmap(path)


def test_deepfashion_keeps_good_rows_and_counts_every_bad_one(tmp_path):
    root = tmp_path / "deepfashion"
    planted = fixtures.deepfashion(root, per_class=4)
    parsed = datasets.read("deepfashion", root, mapping(tmp_path, fixtures.MAPPING))
    rows, lost = crop_all(
        parsed.records,
        root,
        tmp_path / "out",
        margin=0.0,
        size=32,
        fit="stretch",
        workers=2,
        image_prefix="data/cropped/x/shards",
    )
    reasons = Counter(d.reason for d in parsed.drops + lost)
    assert reasons == Counter(planted)
    assert Counter(r["label"] for r in rows) == {"top": 4, "dress": 4, "trousers": 4, "skirt": 4}
    assert all(r["image"].startswith("data/cropped/x/shards/00000.tar/") for r in rows)
    with tarfile.open(tmp_path / "out/00000.tar") as shard:  # Python's own tar reader, not the stage's index
        assert sorted(shard.getnames()) == sorted(r["image"].rsplit("/", 1)[1] for r in rows) and len(rows) == 16
    origins = {d.origin for d in parsed.drops}
    assert "Anno/list_category_img.txt:3" not in origins  # good rows are not reported
    assert any(o.startswith("Anno/list_bbox.txt:") for o in origins)


def test_deepfashion_crop_uses_the_box(tmp_path):
    root = tmp_path / "df"
    fixtures.deepfashion(root, per_class=1, bad=False)
    parsed = datasets.read("deepfashion", root, mapping(tmp_path, fixtures.MAPPING))
    assert parsed.records[0].box == (10, 15, 50, 70)
    rows, _ = crop_all(
        parsed.records[:1], root, tmp_path / "o", margin=0.0, size=40, fit="stretch", workers=1, image_prefix="p"
    )
    import numpy as np
    from PIL import Image

    with tarfile.open(tmp_path / "o/00000.tar") as shard:
        out = np.asarray(Image.open(shard.extractfile(rows[0]["image"].split("/")[-1])))
    assert out.shape == (40, 40, 3)
    # the fixture's box frames the bright rectangle plus a little noise: the crop is mostly bright
    assert out.mean() > 100


def test_mapping_naming_a_category_the_dataset_lacks_is_an_error(tmp_path):
    root = tmp_path / "df"
    fixtures.deepfashion(root, per_class=1, bad=False)
    with pytest.raises(FashionError, match="Hoodie"):
        datasets.read("deepfashion", root, mapping(tmp_path, "classes:\n  top: [Blouse, Hoodie]\n"))


def test_missing_annotation_file_is_an_error_naming_it(tmp_path):
    root = tmp_path / "df"
    fixtures.deepfashion(root, per_class=1, bad=False)
    (root / "Anno/list_bbox.txt").unlink()
    with pytest.raises(FashionError, match="list_bbox.txt"):
        datasets.read("deepfashion", root, mapping(tmp_path, fixtures.MAPPING))


@pytest.mark.parametrize(
    "name,edit,where,message",
    [
        (
            "Anno/list_category_img.txt",
            lambda lines: lines[:-2],  # the last rows cut off, the count left as it was
            1,
            "the count line says 8 rows but the file has 6: rows were lost or added",
        ),
        ("Anno/list_bbox.txt", lambda lines: lines + ["img/extra.jpg 1 1 5 5"], 1, "says 8 rows but the file has 9"),
        (
            "Anno/list_category_img.txt",
            lambda lines: [str(len(lines) - 2), *lines[2:]],  # no header: the first row would take its place
            2,
            "expected the header line 'image_name category_label', got 'img/Folder_1/img_00000001.jpg 1'",
        ),
        ("Anno/list_bbox.txt", lambda lines: lines[1:], 1, "expected the number of rows, got 'image_name  x_1"),
        ("Anno/list_category_cloth.txt", lambda lines: ["\ufeff5", "category_name category_type"], 1, "says 5 rows"),
        ("Anno/list_category_cloth.txt", lambda lines: lines[:1], 2, "header line missing"),
        ("Anno/list_category_img.txt", lambda lines: [], 0, "empty; a DeepFashion list file starts with a count"),
        ("Anno/list_bbox.txt", lambda lines: ["²", *lines[1:]], 1, "expected the number of rows, got '²'"),
    ],
)
def test_a_deepfashion_list_file_whose_count_or_header_is_wrong_is_one_line_naming_file_and_line(
    tmp_path, name, edit, where, message
):
    """Issue 33: rows were lost silently when the count disagreed or the header line was missing."""
    root = tmp_path / "df"
    fixtures.deepfashion(root, per_class=2, bad=False)
    path = root / name
    lines = edit(path.read_text(encoding="utf-8").splitlines())
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    with pytest.raises(FashionError) as info:
        datasets.read("deepfashion", root, mapping(tmp_path, fixtures.MAPPING))
    text = str(info.value)
    assert text.startswith(f"{path}:{where}: " if where else f"{path}: ") and message in text, text
    assert "\n" not in text


def test_a_deepfashion_list_file_may_end_in_blank_lines_counted_or_not(tmp_path):
    root = tmp_path / "df"
    fixtures.deepfashion(root, per_class=2, bad=False)
    path = root / "Anno/list_bbox.txt"
    path.write_text(path.read_text() + "\n\n")
    assert len(datasets.read("deepfashion", root, mapping(tmp_path, fixtures.MAPPING)).records) == 8
    lines = path.read_text().splitlines()
    path.write_text("\n".join([str(len(lines) - 2), *lines[1:]]) + "\n")  # the blank lines counted too
    assert len(datasets.read("deepfashion", root, mapping(tmp_path, fixtures.MAPPING)).records) == 8


def test_imaterialist_reader_classifies_multilabel_and_counts_drops(tmp_path):
    from fashioncat.config import DownloadConfig
    from fashioncat.data.download import imaterialist_images

    source = tmp_path / "release"
    planted = fixtures.imaterialist(source, per_class=3)
    classmap = mapping(tmp_path, fixtures.IM_MAPPING)
    settings = DownloadConfig(workers=4, timeout_s=5, retries=0, max_bytes=10**6, max_per_class=0)
    raw = tmp_path / "raw"
    report = imaterialist_images(source, raw, classmap, settings, seed=1)
    assert report["failed"] == 1 and report["fetched"] == 13
    parsed = datasets.read("imaterialist", raw, classmap)
    assert Counter(d.reason for d in parsed.drops) == Counter(planted)
    assert Counter(r.label for r in parsed.records) == {"top": 4, "dress": 3, "trousers": 3, "skirt": 3}
    assert all(r.box is None for r in parsed.records)
    again = imaterialist_images(source, raw, classmap, settings, seed=1)
    assert again["fetched"] == 13 and "present" not in again  # file: URLs are local copies: always taken anew
    failures = (raw / "failures.csv").read_text()
    assert "remote/missing.jpg" in failures and "train.json: annotations[" in failures


def test_imaterialist_urls_to_internal_addresses_fail_unless_download_allowed_hosts_names_them(tmp_path):
    """Issue 33: a JSON from the internet pointed the downloader at this machine; what answered reached the cache."""
    import socket

    from fashioncat.config import DownloadConfig
    from fashioncat.data.download import imaterialist_images

    source = tmp_path / "release"
    fixtures.imaterialist(source, per_class=1, bad=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nobody listens
    data = json.loads((source / "train.json").read_text())
    data["images"][0]["url"] = f"http://127.0.0.1:{port}/1.jpg"
    data["images"][1]["url"] = "http://169.254.169.254/latest/meta-data/iam"
    (source / "train.json").write_text(json.dumps(data))
    classmap = mapping(tmp_path, fixtures.IM_MAPPING)
    settings = DownloadConfig(workers=2, timeout_s=5, retries=0, max_bytes=10**6, max_per_class=0)
    report = imaterialist_images(source, tmp_path / "raw", classmap, settings, seed=1)
    assert report["failed"] == 2 and report["fetched"] == 2
    advice = "(list the host in download.allowed_hosts to fetch from it)"
    assert report["failure_reasons"] == {
        f"refused: 127.0.0.1 is a loopback address {advice}": 1,
        f"refused: 169.254.169.254 is a link-local address {advice}": 1,
    }
    allowed = DownloadConfig(
        workers=2, timeout_s=5, retries=0, max_bytes=10**6, max_per_class=0, allowed_hosts=["127.0.0.1"]
    )
    report = imaterialist_images(source, tmp_path / "raw", classmap, allowed, seed=1)
    assert report["failure_reasons"]["connection refused"] == 1  # allowed: tried, and nobody answers


def test_imaterialist_max_per_class_is_a_seeded_sample(tmp_path):
    source = tmp_path / "release"
    fixtures.imaterialist(source, per_class=5, bad=False)
    entries = imaterialist.entries(source / "train.json", mapping(tmp_path, fixtures.IM_MAPPING))
    first = imaterialist.chosen(entries, 2, seed=7)
    assert first == imaterialist.chosen(entries, 2, seed=7)
    assert Counter(e.label for e in first) == {"top": 2, "dress": 2, "trousers": 2, "skirt": 2}


def test_broken_json_names_file_and_line(tmp_path):
    bad = tmp_path / "train.json"
    bad.write_text('{"images": [],\n "annotations": [\n  {"imageId": "1",, }\n]}')
    with pytest.raises(FashionError, match=r"train.json:3"):
        imaterialist.load_json(bad)


def test_tally_counts_in_kept_and_dropped_per_class():
    from fashioncat.data.records import Drop

    report = tally(
        ["a", "a", "b"], [Drop("f:1", "bad", "a"), Drop("f:2", "bad"), Drop("f:3", "worse", "b")], ["a", "b"]
    )
    assert report["in"] == 6 and report["kept"] == 3
    assert report["dropped"] == {"bad": 2, "worse": 1}
    assert report["per_class"]["a"] == {"in": 3, "kept": 2, "dropped": {"bad": 1}}
    assert report["per_class"]["(unknown)"]["dropped"] == {"bad": 1}


def test_deepfashion_from_an_archive_with_a_top_folder(tmp_path):
    import shutil

    from fashioncat.data.download import deepfashion_tree

    tree = tmp_path / "release" / "Category and Attribute Prediction Benchmark"
    fixtures.deepfashion(tree, per_class=2, bad=False)
    archive = shutil.make_archive(str(tmp_path / "deepfashion"), "zip", tmp_path / "release")
    report = deepfashion_tree(Path(archive), tmp_path / "raw")
    assert report["files"] == 8 + 4
    parsed = datasets.read("deepfashion", tmp_path / "raw", mapping(tmp_path, fixtures.MAPPING))
    assert len(parsed.records) == 8 and not parsed.drops
    with pytest.raises(FashionError, match="does not exist"):
        deepfashion_tree(tmp_path / "nowhere", tmp_path / "raw2")


def test_a_new_json_reusing_image_ids_refetches_and_leaves_nothing_stale(tmp_path):
    """Images are keyed by URL: new URLs under old ids are fetched, the old files are removed."""
    from fashioncat.config import DownloadConfig
    from fashioncat.data.download import imaterialist_images

    source, raw = tmp_path / "release", tmp_path / "raw"
    fixtures.imaterialist(source, per_class=3, bad=False)
    classmap = mapping(tmp_path, fixtures.IM_MAPPING)
    settings = DownloadConfig(workers=2, timeout_s=5, retries=0, max_bytes=10**6, max_per_class=0)
    imaterialist_images(source, raw, classmap, settings, seed=1)
    before = {r.image: (raw / r.image).read_bytes() for r in datasets.read("imaterialist", raw, classmap).records}

    data = json.loads((source / "train.json").read_text())
    for image in data["images"][:3]:  # ids 1-3 now point at other pictures
        image["url"] = f"file:remote/new{image['imageId']}.jpg"
        (source / "remote" / f"new{image['imageId']}.jpg").write_bytes(fixtures.jpeg(fixtures.garment(500)))
    (source / "train.json").write_text(json.dumps(data))
    report = imaterialist_images(source, raw, classmap, settings, seed=1)

    assert report["stale_removed"] == 3
    after = {r.image: (raw / r.image).read_bytes() for r in datasets.read("imaterialist", raw, classmap).records}
    changed = {name for name in after if name not in before}
    assert len(changed) == 3 and all(after[n] == fixtures.jpeg(fixtures.garment(500)) for n in changed)
    assert len(list((raw / "images").rglob("*.jpg"))) == len(after)


def test_deepfashion_download_copies_and_never_links_the_originals(tmp_path):
    """Issue 14, case 4: a hard link would let DVC's read-only cache files alias the user's data."""
    import os
    import stat

    from fashioncat.data.download import deepfashion_tree

    originals = tmp_path / "mine"
    fixtures.deepfashion(originals, per_class=2, bad=False)
    files = sorted(p for p in originals.rglob("*") if p.is_file())
    before = {p: (p.stat().st_mode, p.read_bytes()) for p in files}
    deepfashion_tree(originals, tmp_path / "raw")
    for path in files:
        copy = tmp_path / "raw" / path.relative_to(originals)
        assert copy.read_bytes() == before[path][1]
        assert path.stat().st_nlink == 1 and not os.path.samefile(path, copy)
        # what DVC does to its outputs must not reach the original
        copy.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        copy.unlink()
        assert path.stat().st_mode == before[path][0] and path.read_bytes() == before[path][1]


def test_deepfashion_image_listed_twice_is_kept_once_and_the_repeat_counted(tmp_path):
    """Issue 14, case 1: a repeated row used to put the same picture twice into one split."""
    root = tmp_path / "df"
    fixtures.deepfashion(root, per_class=2, bad=False)
    category = root / "Anno/list_category_img.txt"
    lines = category.read_text().splitlines()
    first, second, third = lines[2], lines[3], lines[4]  # Blouse, Blouse, Dress
    moved = third.split()[0]
    lines += [
        first,  # the very same row again
        second.replace("/img_", "//img_"),  # the same file, spelled differently
        f"{moved} 3",  # the Dress image again, as Jeans: which label is right is unknowable
    ]
    lines[0] = str(len(lines) - 2)  # the count line counts the rows
    category.write_text("\n".join(lines) + "\n")
    boxes = (root / "Anno/list_bbox.txt").read_text().splitlines()
    boxes.append(f"{first.split()[0]} 1 1 5 5")  # a second, different box: the first one stays
    boxes[0] = str(len(boxes) - 2)
    (root / "Anno/list_bbox.txt").write_text("\n".join(boxes) + "\n")
    parsed = datasets.read("deepfashion", root, mapping(tmp_path, fixtures.MAPPING))
    images = [r.image for r in parsed.records]
    assert len(images) == len(set(images)) == 7 and moved not in images
    reasons = Counter(d.reason for d in parsed.drops)
    assert reasons == {
        "duplicate annotation row": 2,
        "image listed under several classes": 2,
        "duplicate bounding box row": 1,
    }
    assert {d.origin for d in parsed.drops if d.reason == "duplicate annotation row"} == {
        "Anno/list_category_img.txt:11",
        "Anno/list_category_img.txt:12",
    }
    kept = next(r for r in parsed.records if r.image == first.split()[0])
    assert kept.origin == "Anno/list_category_img.txt:3" and kept.box == (10, 15, 50, 70)
    report = tally([r.label for r in parsed.records], parsed.drops, ["top", "dress", "trousers", "skirt"])
    assert report["per_class"]["top"]["dropped"] == {"duplicate annotation row": 2}


def test_imaterialist_annotation_repeated_in_a_file_is_kept_once(tmp_path):
    source = tmp_path / "release"
    fixtures.imaterialist(source, per_class=1, bad=False)
    data = json.loads((source / "train.json").read_text())
    data["annotations"].append(dict(data["annotations"][0]))
    (source / "train.json").write_text(json.dumps(data))
    found = imaterialist.entries(source / "train.json", mapping(tmp_path, fixtures.IM_MAPPING))
    assert [e.problem for e in found] == ["", "", "", "", "duplicate annotation"]
    assert found[-1].origin == "train.json: annotations[4]" and found[-1].label == "top"


def test_one_imaterialist_json_of_any_name_goes_through_download_and_crop(tmp_path):
    """Issue 14, case 3: `location` naming one JSON file not called train.json/validation.json."""
    from fashioncat.config import DownloadConfig
    from fashioncat.data.download import imaterialist_images

    source = tmp_path / "release"
    fixtures.imaterialist(source, per_class=2, bad=False)
    single = source / "fgvc5 subset.JSON"
    (source / "train.json").rename(single)
    (source / "validation.json").unlink()
    classmap = mapping(tmp_path, fixtures.IM_MAPPING)
    settings = DownloadConfig(workers=2, timeout_s=5, retries=0, max_bytes=10**6, max_per_class=0)
    raw = tmp_path / "raw"
    assert imaterialist_images(single, raw, classmap, settings, seed=1)["fetched"] == 8
    parsed = datasets.read("imaterialist", raw, classmap)
    assert len(parsed.records) == 8 and not parsed.drops
    assert parsed.records[0].origin.startswith("fgvc5 subset.JSON: annotations[")
    rows, lost = crop_all(
        parsed.records, raw, tmp_path / "out", margin=0.0, size=16, fit="stretch", workers=1, image_prefix="p"
    )
    assert len(rows) == 8 and not lost
