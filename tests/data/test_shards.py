"""The crop stage's tar shards: written the same every time, read back byte for byte, damage named in one line."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fashioncat.data import shards
from fashioncat.data.images import ImageProblem, open_rgb, png_bytes
from fashioncat.errors import FashionError

ROOT = Path(__file__).resolve().parents[2]


def pictures(count: int, size: int = 16, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(count)]


def pack(folder: Path, arrays: list[np.ndarray], per_shard: int = 4) -> list[str]:
    """The arrays as PNG members `000.png`, `001.png`, ...; returns their names as manifests give them."""
    names = []
    with shards.Writer(folder, per_shard=per_shard) as writer:
        for i, pixels in enumerate(arrays):
            names.append(
                f"{folder.as_posix()}/{writer.add(f'{i:03d}.png', png_bytes(Image.fromarray(pixels)))}/{i:03d}.png"
            )
    return names


def test_members_roll_over_into_numbered_shards_that_plain_tar_lists_in_order(tmp_path):
    names = pack(tmp_path / "shards", pictures(10), per_shard=4)
    assert sorted(p.name for p in (tmp_path / "shards").iterdir()) == ["00000.tar", "00001.tar", "00002.tar"]
    assert names[0].endswith("shards/00000.tar/000.png") and names[4].endswith("shards/00001.tar/004.png")
    assert names[9].endswith("shards/00002.tar/009.png")
    listed = subprocess.run(["tar", "tf", str(tmp_path / "shards/00001.tar")], capture_output=True, text=True)
    assert listed.stdout.split() == ["004.png", "005.png", "006.png", "007.png"]
    assert names == sorted(names)  # members added in name order: the manifests' sort is the names' sort


def test_the_same_images_give_the_same_shard_bytes(tmp_path):
    pack(tmp_path / "a", pictures(6))
    pack(tmp_path / "b", pictures(6))
    for name in ("00000.tar", "00001.tar"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    with tarfile.open(tmp_path / "a/00000.tar") as tar:  # no time stamp or owner to differ between runs
        assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in tar.getmembers()} == {(0, 0, 0, "", "")}


def test_a_member_reads_back_as_the_png_that_went_in(tmp_path):
    arrays = pictures(7)
    names = pack(tmp_path / "shards", arrays)
    with tarfile.open(tmp_path / "shards/00001.tar") as tar:  # Python's own tar reader as the reference
        assert shards.read_bytes(names[5]) == tar.extractfile("005.png").read()
    for i in (0, 3, 6):
        assert np.array_equal(np.asarray(open_rgb(names[i])), arrays[i])
    assert shards.exists(names[6]) and not shards.exists(f"{tmp_path}/shards/00001.tar/000.png")
    assert not shards.exists(f"{tmp_path}/shards/00007.tar/000.png")


def test_loose_files_are_read_as_before(tmp_path):
    Image.fromarray(pictures(1)[0]).save(tmp_path / "a.png")
    assert shards.read_bytes(tmp_path / "a.png") == (tmp_path / "a.png").read_bytes()
    assert shards.split_name(tmp_path / "a.png") is None and shards.exists(tmp_path / "a.png")
    weird = tmp_path / "photos.tar"  # a folder whose name ends in .tar holds loose files
    weird.mkdir()
    Image.fromarray(pictures(1)[0]).save(weird / "b.png")
    assert shards.exists(weird / "b.png") and shards.read_bytes(weird / "b.png") == (weird / "b.png").read_bytes()
    assert shards.split_name(weird / "b.png") == (weird.as_posix(), "b.png")  # shaped like a member...
    assert shards.member_of(weird / "b.png") is None  # ...but a real file wins
    assert shards.extract(weird / "b.png", tmp_path / "copies") == weird / "b.png"
    assert not (tmp_path / "copies").exists()


def test_the_index_agrees_with_pythons_tar_reader_on_the_writers_shards_and_on_other_tars(tmp_path):
    pack(tmp_path / "shards", pictures(6, seed=2), per_shard=6)
    other = tmp_path / "other.tar"  # GNU long names, a link and a folder: not the writer's plain layout
    with tarfile.open(other, "w", format=tarfile.GNU_FORMAT) as tar:
        for name in ("x" * 150 + ".png", "plain.png"):
            info = tarfile.TarInfo(name)
            info.size = 5
            tar.addfile(info, io.BytesIO(b"12345"))
        tar.addfile(_folder_info())
        link = tarfile.TarInfo("alias.png")
        link.type, link.linkname = tarfile.SYMTYPE, "plain.png"
        tar.addfile(link)
    for shard in (tmp_path / "shards/00000.tar", other):
        with tarfile.open(shard) as tar:
            expected = {m.name: (m.offset_data, m.size) for m in tar.getmembers() if m.isfile()}
        assert shards.index(shard) == expected and expected
    assert shards.read_bytes(f"{other}/plain.png") == b"12345"
    assert not shards.exists(f"{other}/alias.png")  # only regular files are images


def _folder_info() -> tarfile.TarInfo:
    info = tarfile.TarInfo("folder")
    info.type = tarfile.DIRTYPE
    return info


def test_a_missing_member_is_a_missing_image(tmp_path):
    pack(tmp_path / "shards", pictures(2))
    gone = f"{tmp_path}/shards/00000.tar/zzz.png"
    with pytest.raises(FileNotFoundError, match="00000.tar holds no image zzz.png"):
        shards.read_bytes(gone)
    with pytest.raises(ImageProblem, match="image file missing"):
        open_rgb(gone)


def test_training_decodes_shard_members_to_the_pixels_that_went_in(tmp_path):
    from fashioncat.model.inputs import decode_all

    arrays = pictures(9, size=16, seed=1)
    names = pack(tmp_path / "shards", arrays)
    Image.fromarray(arrays[2]).save(tmp_path / "loose.png")
    order = [8, 0, 5, 2, 7]
    out = decode_all([names[i] for i in order] + [str(tmp_path / "loose.png")], 16)
    assert np.array_equal(out, np.stack([arrays[i] for i in order] + [arrays[2]]))
    resized = decode_all([names[0]], 8)  # another size goes through the crop stage's resize
    assert resized.shape == (1, 8, 8, 3)
    expected = np.asarray(Image.fromarray(arrays[0]).resize((8, 8), Image.BICUBIC))
    assert np.array_equal(resized[0], expected)


def test_a_damaged_shard_is_named_in_one_line(tmp_path):
    from fashioncat.model.inputs import decode_all

    names = pack(tmp_path / "shards", pictures(3))
    shard = tmp_path / "shards/00000.tar"
    shard.write_bytes(shard.read_bytes()[:1500])  # cut inside the second member
    with pytest.raises(FashionError) as exc:
        decode_all(names, 16)
    assert str(shard) in str(exc.value) and "\n" not in str(exc.value)


def test_a_split_naming_a_member_the_shard_lacks_fails_at_its_line(tmp_path):
    from fashioncat.model.inputs import load_split

    names = pack(tmp_path / "shards", pictures(2))
    relative = [Path(n).relative_to(tmp_path).as_posix() for n in names]
    manifest = tmp_path / "test.csv"
    manifest.write_text(f"image,label\n{relative[0]},a\n{relative[1][:-7]}nope.png,a\n")
    with pytest.raises(FashionError, match=r"test.csv:3: image shards/00000.tar/nope.png does not exist"):
        load_split(manifest, ["a"], root=tmp_path)
    manifest.write_text(f"image,label\n{relative[1]},a\n")
    paths, labels = load_split(manifest, ["a"], root=tmp_path)
    assert list(paths) == [str(tmp_path / relative[1])] and list(labels) == [0]


def test_extract_copies_a_member_once_and_leaves_loose_files_alone(tmp_path):
    names = pack(tmp_path / "shards", pictures(2))
    copy = shards.extract(names[1], tmp_path / "review")
    assert copy == tmp_path / "review/001.png" and copy.read_bytes() == shards.read_bytes(names[1])
    assert shards.extract(copy, tmp_path / "elsewhere") == copy and not (tmp_path / "elsewhere").exists()
    with pytest.raises(FileNotFoundError):
        shards.extract(f"{tmp_path}/shards/00000.tar/..", tmp_path / "review")


def test_data_stages_read_shards_without_tensorflow(tmp_path):
    names = pack(tmp_path / "shards", pictures(2))
    code = (
        "import sys; from fashioncat.data import shards; from fashioncat.data.images import open_rgb; "
        f"open_rgb({names[1]!r}); assert shards.exists({names[0]!r}); "
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": str(ROOT / "src")}, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
