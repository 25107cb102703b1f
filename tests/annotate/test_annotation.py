"""The model bundle and `python -m fashioncat annotate`: real model, real files, no mocks.

The model is tiny and hand-weighted (mean colour -> red/green/blue), so its
answers are known without training: a red picture is "red" with p ~ 1, a grey
one gets 1/3 for every class.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import fixtures
import keras
import numpy as np
import pytest
from PIL import Image

from fashioncat.__main__ import main as cli
from fashioncat.annotate import bundle, label_studio, predict, writers
from fashioncat.data import images
from fashioncat.errors import FashionError
from fashioncat.model import inputs

ROOT = Path(__file__).resolve().parents[2]
CLASSES = ["red", "green", "blue"]
COLOURS = {"red": (230, 20, 20), "green": (20, 230, 20), "blue": (20, 20, 230), "grey": (128, 128, 128)}


def picture(colour: str, seed: int, size=(60, 80)) -> Image.Image:
    rng = np.random.default_rng(seed)
    noise = rng.integers(-15, 16, (size[1], size[0], 3))
    return Image.fromarray(np.clip(np.array(COLOURS[colour]) + noise, 0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A trained-model file, its classes.json and the bundle made from them (crop 64 -> model 32)."""
    root = tmp_path_factory.mktemp("bundle")
    model_path = root / "final.keras"
    model = fixtures.colour_model()
    model.compile(optimizer="adam", loss="categorical_crossentropy")  # optimizer state the bundle must drop
    model.save(model_path)
    (root / "classes.json").write_text(json.dumps(CLASSES))
    bundle.write(
        model_path, root / "classes.json", root / "annotator", image_size=32, margin=0.05, crop_size=64, fit="stretch"
    )
    return root


@pytest.fixture
def photos(tmp_path) -> Path:
    """A folder tree of coloured pictures in every accepted format, plus files that must be reported or ignored."""
    top = tmp_path / "photos"
    (top / "sub" / "deeper").mkdir(parents=True)
    picture("red", 1).save(top / "red.jpg", quality=95)
    picture("green", 2).save(top / "sub" / "green.png")
    picture("blue", 3).save(top / "sub" / "deeper" / "blue.WEBP", lossless=True)
    picture("grey", 4).save(top / "sub" / "grey.BMP")
    picture("red", 5).convert("P").save(top / "anim.gif")
    (top / "broken.jpg").write_bytes(b"this is not an image")
    (top / "notes.txt").write_text("not an image extension: not listed")
    return top


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def annotate(made: Path, *args: str) -> int:
    return cli(["annotate", *args, "--model", str(made / "annotator")])


# ---- bundle -------------------------------------------------------------------------------------------------


def test_bundle_predicts_like_the_source_model_and_records_its_settings(made):
    model, settings = bundle.load(made / "annotator")
    batch = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3)).astype("float32")
    original = keras.models.load_model(made / "final.keras", compile=False)
    np.testing.assert_allclose(model.predict_on_batch(batch), original(batch), atol=1e-6)
    assert (settings.classes, settings.image_size, settings.crop_size, settings.fit) == (CLASSES, 32, 64, "stretch")
    assert settings.source["sha256"] and settings.source["model"].endswith("final.keras")
    # without optimizer state the bundled file is smaller than the compiled original
    assert (made / "annotator" / "model.keras").stat().st_size < (made / "final.keras").stat().st_size
    mode = (made / "annotator" / "bundle.json").stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask  # not the private 0600 of a temporary file


def test_bundle_problems_name_the_file(made, tmp_path):
    with pytest.raises(FashionError, match="nowhere: model bundle folder does not exist"):
        bundle.load(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FashionError, match="bundle.json: bundle settings file missing"):
        bundle.load(tmp_path / "empty")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "bundle.json").write_text('{\n  "format": 2,\n  "classes": [oops]\n}')
    with pytest.raises(FashionError, match=r"bundle.json:3: not valid JSON"):
        bundle.load(broken)
    (broken / "model.keras").write_bytes(b"not a zip archive")
    settings = json.loads((made / "annotator" / "bundle.json").read_text())
    bound = {**settings, "binding": bundle.binding(broken / "model.keras", settings["classes"])}
    (broken / "bundle.json").write_text(json.dumps(bound))  # bound to the broken bytes: Keras gets to read them
    with pytest.raises(FashionError, match="model.keras: not a readable Keras model"):
        bundle.load(broken)
    (tmp_path / "four.json").write_text(json.dumps(CLASSES + ["extra"]))
    with pytest.raises(FashionError, match="3 outputs for 4 classes"):
        bundle.write(
            made / "final.keras",
            tmp_path / "four.json",
            tmp_path / "b",
            image_size=32,
            margin=0.0,
            crop_size=64,
            fit="pad",
        )


@pytest.mark.parametrize(
    "classes,message",
    [
        (["red", "green", "red"], "key 'classes': class 'red' is listed twice (entries 0 and 2)"),
        (["red", 7, "blue"], "key 'classes': entry 1 must be a class name (non-empty text), not 7"),
        (["red", None, "blue"], "key 'classes': entry 1 must be a class name (non-empty text), not None"),
        (["red", ["green"], "blue"], "key 'classes': entry 1 must be a class name (non-empty text), not ['green']"),
        (["red", " ", "blue"], "key 'classes': entry 1 must be a class name (non-empty text), not ' '"),
    ],
)
def test_a_bundle_whose_class_list_is_not_one_name_per_output_is_refused_before_the_model_loads(
    made, tmp_path, classes, message
):
    """Issue 33: duplicates and non-strings were accepted, and the model was loaded before the binding was checked."""
    folder = tmp_path / "bundle"
    folder.mkdir()
    (folder / "model.keras").write_bytes(b"not a zip archive")  # Keras would fail on it: it must never get there
    settings = json.loads((made / "annotator" / "bundle.json").read_text())
    (folder / "bundle.json").write_text(json.dumps({**settings, "classes": classes}))
    with pytest.raises(FashionError) as info:
        bundle.load(folder)
    assert str(info.value) == f"{folder / 'bundle.json'}: {message}"
    (tmp_path / "classes.json").write_text(json.dumps(classes))  # making a bundle checks them too, before Keras
    with pytest.raises(FashionError) as info:
        bundle.write(
            folder / "model.keras",
            tmp_path / "classes.json",
            tmp_path / "b",
            image_size=32,
            margin=0,
            crop_size=64,
            fit="pad",
        )
    in_list = message.replace("key 'classes'", "class list")
    assert str(info.value) == f"{tmp_path / 'classes.json'}: {in_list}"
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("value", ["", "abc", "A" * 64, "0" * 63, "0" * 64 + "\n"])
def test_a_bundle_whose_binding_is_not_a_digest_is_refused_naming_the_key(made, tmp_path, value):
    folder = tmp_path / "bundle"
    shutil.copytree(made / "annotator", folder)
    settings = json.loads((folder / "bundle.json").read_text())
    (folder / "bundle.json").write_text(json.dumps({**settings, "binding": value}))
    with pytest.raises(FashionError, match=r"bundle.json: key 'binding' must be a SHA-256 digest \(64 hex digits\)"):
        bundle.load(folder)


def test_a_bundle_whose_model_is_not_its_own_is_refused_without_loading_it(made, tmp_path):
    folder = tmp_path / "bundle"
    shutil.copytree(made / "annotator", folder)
    (folder / "model.keras").write_bytes(b"not a zip archive")  # loading it would say "not a readable Keras model"
    with pytest.raises(FashionError, match="bundle.json: its classes and model.keras are not the pair"):
        bundle.load(folder)


# ---- preprocessing ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fit", ["stretch", "pad"])
def test_pixels_are_exactly_what_training_saw(tmp_path, fit):
    """crop stage (prepare -> PNG) then inputs.decode_all gives the same array as predict.pixels."""
    source = tmp_path / "photo.jpg"
    picture("red", 9, size=(90, 70)).save(source, quality=90)
    settings = bundle.Settings(CLASSES, image_size=32, margin=0.1, crop_size=64, fit=fit)
    box = (10, 5, 70, 60)
    cropped, _ = images.prepare(source, box, settings.margin, settings.crop_size, fit)
    cropped.save(tmp_path / "crop.png")  # what the crop stage writes
    trained_on = inputs.decode_all([str(tmp_path / "crop.png")], 32)[0]
    np.testing.assert_array_equal(predict.pixels(source, box, settings), trained_on)


# ---- the command --------------------------------------------------------------------------------------------


def test_folder_at_any_depth_with_unreadable_files_reported(made, photos, tmp_path, capsys):
    out = tmp_path / "labels.csv"
    assert annotate(made, str(photos), "--out", str(out), "--batch-size", "2") == 0
    rows = {Path(r["path"]).name: r for r in read_csv(out)}
    assert set(rows) == {"red.jpg", "green.png", "blue.WEBP", "grey.BMP", "anim.gif", "broken.jpg"}
    assert [rows[n]["label_1"] for n in ("red.jpg", "green.png", "blue.WEBP", "anim.gif")] == [
        "red",
        "green",
        "blue",
        "red",
    ]
    assert float(rows["red.jpg"]["prob_1"]) > 0.99 and rows["red.jpg"]["review"] == "false"
    assert list(read_csv(out)[0]) == writers.csv_columns(3, False)
    assert rows["broken.jpg"]["error"].startswith("unreadable image") and rows["broken.jpg"]["review"] == "true"
    assert rows["broken.jpg"]["label_1"] == ""
    assert "5 annotated, 1 unreadable" in capsys.readouterr().err


def test_threshold_decides_review(made, photos, tmp_path):
    strict, lax = tmp_path / "strict.csv", tmp_path / "lax.csv"
    annotate(made, str(photos / "sub"), "--out", str(strict))
    annotate(made, str(photos / "sub"), "--out", str(lax), "--threshold", "0.3")
    grey = [r for r in read_csv(strict) if r["path"].endswith("grey.BMP")][0]
    assert abs(float(grey["prob_1"]) - 1 / 3) < 0.02 and grey["review"] == "true"  # default 0.5
    assert [r["review"] for r in read_csv(lax)] == ["false"] * 3


def test_csv_boxes_crop_like_training(made, tmp_path):
    """A red garment on a blue photo: with its box the model sees red, without it mostly blue."""
    photo = np.zeros((80, 100, 3), dtype=np.uint8)
    photo[:] = COLOURS["blue"]
    photo[10:50, 20:60] = COLOURS["red"]
    Image.fromarray(photo).save(tmp_path / "photo.png")
    (tmp_path / "list.csv").write_text(
        "image,x_1,y_1,x_2,y_2\nphoto.png,20,10,60,50\nphoto.png,,,,\nphoto.png,200,200,300,300\n"
    )
    out = tmp_path / "boxes.jsonl"
    assert annotate(made, str(tmp_path / "list.csv"), "--out", str(out), "--top-k", "2") == 0
    boxed, whole, outside = [json.loads(line) for line in out.read_text().splitlines()]
    assert boxed["box"] == [20, 10, 60, 50] and boxed["top"][0]["label"] == "red" and len(boxed["top"]) == 2
    assert whole["box"] is None and whole["top"][0]["label"] == "blue" and whole["error"] is None
    assert outside["top"] == [] and "bounding box outside the image" in outside["error"]
    model, settings = bundle.load(made / "annotator")
    by_hand, _ = images.prepare(tmp_path / "photo.png", (20, 10, 60, 50), 0.05, 64, "stretch")
    expected = model.predict_on_batch(np.asarray(images.fit(by_hand, 32, "stretch"), "float32")[None])[0]
    assert boxed["top"][0]["probability"] == round(float(expected.max()), 4)


def test_resume_skips_done_images_and_redoes_a_cut_line(made, photos, tmp_path, capsys):
    names = ["red.jpg", "sub/green.png", "sub/grey.BMP", "anim.gif", "sub/deeper/blue.WEBP"]
    (photos / "first.txt").write_text("\n".join(names[:3]) + "\n")
    (photos / "all.txt").write_text("# everything\n" + "\n".join(names) + "\n\n")
    out = tmp_path / "labels.csv"
    assert annotate(made, str(photos / "first.txt"), "--out", str(out), "--resume") == 0
    before = out.read_text()
    with open(out, "a") as f:
        f.write("anim.gif,red,0.99")  # a row cut off by a kill: no newline
    assert annotate(made, str(photos / "all.txt"), "--out", str(out), "--resume") == 0
    assert "dropped an incomplete last line" in capsys.readouterr().err
    rows = read_csv(out)
    assert out.read_text().startswith(before)  # earlier rows untouched, new ones appended
    assert [r["path"] for r in rows] == names and all(r["prob_1"] for r in rows)
    assert annotate(made, str(photos / "all.txt"), "--out", str(out), "--resume", "--top-k", "1") == 2
    assert "labels.csv:1: columns differ" in capsys.readouterr().err


def test_bad_output_extension_and_bad_inputs_are_one_line_errors(tmp_path, photos):
    (tmp_path / "list.csv").write_text("image,x_1,y_1,x_2,y_2\na.jpg,1,1,9,9\nb.jpg,5,5,two,9\n")
    cases = [
        ([str(photos), "--out", str(tmp_path / "labels.txt")], "labels.txt: output must end in .csv, .jsonl or .json"),
        ([str(tmp_path / "no_such_folder"), "--out", "x.csv"], "no_such_folder: does not exist"),
        ([str(tmp_path / "missing.txt"), "--out", "x.csv"], "missing.txt: image list does not exist"),
        ([str(tmp_path / "list.csv"), "--out", "x.csv"], "list.csv:3: box 5 5 two 9 must be four whole numbers"),
    ]
    for args, message in cases:
        done = subprocess.run(
            [sys.executable, "-m", "fashioncat", "annotate", *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=60,
        )
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith("error: ") and message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "x.csv").exists()


def test_help_describes_inputs_and_outputs():
    done = subprocess.run(
        [sys.executable, "-m", "fashioncat", "annotate", "--help"], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert done.returncode == 0
    for words in (
        "x_1,y_1,x_2,y_2",
        "--resume",
        "--threshold",
        "--top-k",
        "--batch-size",
        ".jsonl",
        "models/annotator",
    ):
        assert words in done.stdout


def test_jsonl_resume_of_a_finished_run_adds_nothing(made, photos, tmp_path, capsys):
    out = tmp_path / "labels.jsonl"
    assert annotate(made, str(photos / "sub"), "--out", str(out), "--resume") == 0
    first = out.read_text()
    assert annotate(made, str(photos / "sub"), "--out", str(out), "--resume") == 0
    assert out.read_text() == first and len(first.splitlines()) == 3
    assert "0 annotated, 0 unreadable, 0 to review, 3 already done" in capsys.readouterr().err


# ---- faults -------------------------------------------------------------------------------------------------


def test_a_truncated_model_in_the_bundle_is_one_line_and_no_output(made, photos, tmp_path):
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "bundle.json").write_text((made / "annotator" / "bundle.json").read_text())
    whole = (made / "annotator" / "model.keras").read_bytes()
    (damaged / "model.keras").write_bytes(whole[: len(whole) // 2])  # a copy cut short
    out = tmp_path / "labels.csv"
    done = subprocess.run(
        [sys.executable, "-m", "fashioncat", "annotate", str(photos), "--out", str(out), "--model", str(damaged)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    # the binding catches it before Keras reads the file
    assert lines[-1].startswith(f"error: {damaged / 'bundle.json'}: its classes and model.keras are not the pair")
    assert "model.keras damaged" in lines[-1] and "Traceback" not in done.stderr and not out.exists()


def test_resuming_with_a_bundle_of_other_classes_is_refused(made, photos, tmp_path, capsys):
    other = tmp_path / "other"
    (tmp_path / "classes.json").write_text(json.dumps(["cyan", "magenta", "yellow"]))
    bundle.write(
        made / "final.keras", tmp_path / "classes.json", other, image_size=32, margin=0.05, crop_size=64, fit="stretch"
    )
    for suffix, first_row in ((".csv", 2), (".jsonl", 1)):
        out = tmp_path / f"labels{suffix}"
        assert annotate(made, str(photos / "sub"), "--out", str(out)) == 0
        before = out.read_text()
        assert cli(["annotate", str(photos), "--out", str(out), "--resume", "--model", str(other)]) == 2
        err = capsys.readouterr().err
        assert f"labels{suffix}:{first_row}: class " in err and "is not one of this bundle's classes" in err, err
        assert out.read_text() == before


@pytest.mark.slow
def test_annotate_killed_mid_run_then_resumed_equals_one_straight_run(made, tmp_path):
    import signal
    import time

    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(240):
        picture(("red", "green", "blue", "grey")[i % 4], i, size=(24, 32)).save(folder / f"{i:04d}.png")
    base = [sys.executable, "-m", "fashioncat", "annotate", str(folder), "--model", str(made / "annotator")]
    base += ["--batch-size", "4"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}

    def killed(out: Path, *extra: str) -> None:
        first = subprocess.Popen([*base, "--out", str(out), *extra], cwd=tmp_path, env=env, stderr=subprocess.DEVNULL)
        partial = lambda: [*tmp_path.glob(f".{out.name}.*.tmp"), *([out] if out.exists() else [])]  # noqa: E731
        deadline = time.monotonic() + 180
        while first.poll() is None and time.monotonic() < deadline:
            if any(p.stat().st_size > 2000 for p in partial()):  # a few batches written, most still to come
                break
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        first.wait()
        assert first.returncode == -signal.SIGKILL, "the run should be killed part-way"

    straight = tmp_path / "straight.csv"
    subprocess.run([*base, "--out", str(straight)], cwd=tmp_path, env=env, check=True, capture_output=True)
    killed(tmp_path / "plain.csv")
    assert not (tmp_path / "plain.csv").exists()  # without --resume: all or nothing
    out = tmp_path / "resumed.csv"
    killed(out, "--resume")
    cut = out.read_text()
    assert 0 < len(cut.splitlines()) < 241
    subprocess.run([*base, "--out", str(out), "--resume"], cwd=tmp_path, env=env, check=True, capture_output=True)
    assert out.read_text() == straight.read_text()


def test_label_studio_tasks_and_config_match_and_skip_unreadable_images(made, photos, tmp_path, capsys):
    out = tmp_path / "tasks.json"
    args = [str(photos), "--out", str(out), "--image-root", "http://files.example/photos"]
    assert annotate(made, *args) == 0
    tasks = json.loads(out.read_text())
    assert len(tasks) == 5 and "broken.jpg" in capsys.readouterr().err  # unreadable: reported, not sent
    by_name = {Path(t["data"]["path"]).name: t for t in tasks}
    red = by_name["red.jpg"]
    assert red["data"]["image"] == "http://files.example/photos/" + red["data"]["path"].lstrip("/")
    (prediction,) = red["predictions"]
    (result,) = prediction["result"]
    assert result["value"] == {"choices": ["red"]} and result["type"] == "choices" and prediction["score"] > 0.99
    assert prediction["model_version"] == label_studio.model_version(made / "annotator")
    assert len({t["predictions"][0]["result"][0]["id"] for t in tasks}) == 5  # Label Studio needs unique ids
    config = ElementTree.fromstring((tmp_path / "tasks.label_config.xml").read_text())
    choices = config.find("Choices")
    assert [c.get("value") for c in choices] == CLASSES  # the model's order
    assert (choices.get("name"), choices.get("toName")) == (result["from_name"], result["to_name"])
    assert config.find("Image").get("name") == result["to_name"]

    local = tmp_path / "local.json"
    assert annotate(made, str(photos / "sub"), "--out", str(local)) == 0
    image = json.loads(local.read_text())[0]["data"]["image"]
    assert image.startswith("/data/local-files/?d=") and not image.startswith("/data/local-files/?d=/")
    assert annotate(made, str(photos), "--out", str(local), "--resume") == 2


def test_image_root_url_refuses_an_image_path_with_dotdot_before_anything_runs(made, photos, tmp_path, capsys):
    """Issue 33: '..' in a path made a link that leaves --image-root (URL/../secret)."""
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "images.txt").write_text(f"{photos / 'red.jpg'}\n../photos/sub/green.png\n")
    out = tmp_path / "tasks.json"
    args = [str(lists / "images.txt"), "--out", str(out), "--image-root", "http://files.example/photos"]
    assert annotate(made, *args) == 2
    err = capsys.readouterr().err
    assert err == (
        "error: ../photos/sub/green.png: '..' in an image path would lead its link out of --image-root "
        "http://files.example/photos; name the images without '..' (run from a folder above them)\n"
    )
    assert not out.exists() and not label_studio.config_path(out).exists()
    (lists / "images.txt").write_text("sub/../red.jpg\n")  # stays inside, but any '..' is refused
    assert annotate(made, *args) == 2 and "sub/../red.jpg: '..' in an image path" in capsys.readouterr().err


def test_label_studio_local_links_are_relative_to_the_dataset_folder_never_the_whole_host(
    made, photos, tmp_path, capsys
):
    """Issue 33: the help recommended LOCAL_FILES_DOCUMENT_ROOT=/, which serves every file on the host."""
    out = tmp_path / "tasks.json"
    assert annotate(made, str(photos), "--out", str(out)) == 0
    images = {t["data"]["path"]: t["data"]["image"] for t in json.loads(out.read_text())}
    assert images[str(photos / "red.jpg")] == label_studio.LOCAL_FILES + "red.jpg"
    assert images[str(photos / "sub" / "deeper" / "blue.WEBP")] == label_studio.LOCAL_FILES + "sub/deeper/blue.WEBP"
    assert f"LOCAL_FILES_DOCUMENT_ROOT={photos}\n" in capsys.readouterr().err
    # a list's images are relative to the list's folder, or to the folder --image-root names
    lists = photos / "lists"
    lists.mkdir()
    (lists / "images.txt").write_text("../red.jpg\n../sub/green.png\n")
    assert annotate(made, str(lists / "images.txt"), "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ../red.jpg: not below ") and "give --image-root a folder" in err
    assert annotate(made, str(lists / "images.txt"), "--out", str(out), "--image-root", str(photos)) == 0
    images = [t["data"]["image"] for t in json.loads(out.read_text())]
    assert images == [label_studio.LOCAL_FILES + "red.jpg", label_studio.LOCAL_FILES + "sub/green.png"]
    assert annotate(made, str(lists / "images.txt"), "--out", str(out), "--image-root", str(photos / "sub")) == 2
    assert "../red.jpg: not below" in capsys.readouterr().err


def test_help_recommends_the_dataset_folder_as_label_studios_document_root():
    done = subprocess.run(
        [sys.executable, "-m", "fashioncat", "annotate", "--help"], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    text = " ".join(done.stdout.split())
    assert "LOCAL_FILES_DOCUMENT_ROOT=FOLDER, the dataset folder (never /" in text
    assert "DOCUMENT_ROOT=/" not in text


def test_a_bundle_whose_class_order_or_model_changed_is_refused(made, tmp_path):
    """The same classes in another order would label every image wrongly and silently: the binding catches it."""
    for name, edit in (
        ("reordered", lambda s: {**s, "classes": list(reversed(s["classes"]))}),
        ("renamed", lambda s: {**s, "classes": ["rouge", *s["classes"][1:]]}),
    ):
        copy = tmp_path / name
        shutil.copytree(made / "annotator", copy)
        settings = json.loads((copy / "bundle.json").read_text())
        (copy / "bundle.json").write_text(json.dumps(edit(settings)))
        with pytest.raises(FashionError, match="not the pair the bundle was made with"):
            bundle.load(copy)
    swapped = tmp_path / "swapped"
    shutil.copytree(made / "annotator", swapped)
    other = fixtures.colour_model()
    other.layers[-1].set_weights([w[:, ::-1] if w.ndim == 2 else w[::-1] for w in other.layers[-1].get_weights()])
    other.save(swapped / "model.keras")
    with pytest.raises(FashionError, match="not the pair the bundle was made with"):
        bundle.load(swapped)
    old = tmp_path / "old"
    shutil.copytree(made / "annotator", old)
    settings = json.loads((old / "bundle.json").read_text())
    (old / "bundle.json").write_text(json.dumps({**settings, "format": 1}))
    with pytest.raises(FashionError, match="bundle format 1, this version reads format 2"):
        bundle.load(old)
