"""The crop stage's image store: its PNGs packed into tar shards, and read back by name.

At DeepFashion's size one file per garment is hundreds of thousands of files, and DVC's
hashing, status and checkout pay per file (bench/data_layout.md). So `crop` writes its
images into `shards/00000.tar`, `shards/00001.tar`, ... of at most `SHARD_IMAGES` each,
and a manifest names an image by its shard and member:

    data/cropped/source/shards/00003.tar/1f0c9a…e2.png

`read_bytes` and `exists` accept such a name or a plain file path, so manifests that
name loose files (a user's own, the tests') keep working. A shard is a plain POSIX tar
(`tar tf` lists it, `tar xf` unpacks it) written byte for byte the same from the same
images: members in the order given, mtime 0, no owner. It needs neither TensorFlow nor
CRC32C, so the data stages stay TensorFlow-free (TFRecord frames every record with a
CRC32C that only TensorFlow writes here).

Reading looks a member up in the shard's index (its tar headers, read once per process
and shard) and reads its bytes at their offset: no unpacking, no temporary files.
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

from fashioncat.io import write_bytes

SHARD_IMAGES = 5000  # members per shard: 58 shards for DeepFashion's 289,222 images
FOLDER = "shards"
SUFFIX = ".tar"


def shard_name(number: int) -> str:
    return f"{number:05d}{SUFFIX}"


class Writer:
    """Members added in order go to `folder/00000.tar`, then `00001.tar` once one holds `per_shard`."""

    def __init__(self, folder: str | os.PathLike, per_shard: int = SHARD_IMAGES):
        self.folder = Path(folder)
        self.per_shard = per_shard
        self.count = 0
        self._tar: tarfile.TarFile | None = None
        self.folder.mkdir(parents=True, exist_ok=True)

    def add(self, member: str, data: bytes) -> str:
        """Store `data` as `member`; returns the shard's file name (`00003.tar`) it went into."""
        if "/" in member or member in ("", ".", ".."):
            raise ValueError(f"shard member {member!r} must be a plain file name")
        if self._tar is None or self.count % self.per_shard == 0:
            self._open(self.count // self.per_shard)
        info = tarfile.TarInfo(member)
        info.size, info.mtime, info.mode = len(data), 0, 0o644
        self._tar.addfile(info, io.BytesIO(data))
        self.count += 1
        return shard_name((self.count - 1) // self.per_shard)

    def _open(self, number: int) -> None:
        self.close()
        self._tar = tarfile.open(self.folder / shard_name(number), "w", format=tarfile.USTAR_FORMAT)

    def close(self) -> None:
        if self._tar is not None:
            self._tar.close()
            self._tar = None

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def split_name(path: str | os.PathLike) -> tuple[str, str] | None:
    """(shard file, member) when `path` names a member of a shard (`…/00003.tar/<member>`), else None.

    Plain string work: training checks every image of a split through here.
    """
    shard, slash, member = os.fspath(path).rpartition("/")
    if slash and member and shard.endswith(SUFFIX):
        return shard, member
    return None


def member_of(path: str | os.PathLike) -> tuple[str, str] | None:
    """(shard file, member) when `path` names a shard member and is not itself a file, else None.

    The one rule for telling the two apart: a real file of that name wins.
    """
    named = split_name(path)
    return None if named is None or os.path.isfile(path) else named


_indexes: dict[str, tuple[tuple[int, int], dict[str, tuple[int, int]]]] = {}  # shard -> (stamp, index)


def index(shard: str | os.PathLike) -> dict[str, tuple[int, int]]:
    """member -> (offset of its bytes, size), from the shard's tar headers; cached while the file is unchanged.

    A member named twice resolves to its last copy, as `tar xf` leaves it. Raises
    FileNotFoundError for a missing shard and ValueError for a file that is not a tar.
    """
    shard = os.fspath(shard)
    stat = os.stat(shard)
    stamp = (stat.st_mtime_ns, stat.st_size)
    cached = _indexes.get(shard)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    with open(shard, "rb") as f:
        found = _scan(f, stat.st_size)
    if found is None:  # not the plain layout `Writer` makes: Python's tar reader knows every other
        try:
            with tarfile.open(shard, "r:") as tar:
                found = {m.name: (m.offset_data, m.size) for m in tar.getmembers() if m.isfile()}
        except tarfile.TarError as exc:
            raise ValueError(f"{shard}: not a readable tar shard ({exc})") from None
    _indexes[shard] = (stamp, found)
    return found


def _scan(f, total: int) -> dict[str, tuple[int, int]] | None:
    """member -> (offset, size) from the 512-byte headers of a plain USTAR tar, as `Writer` makes them.

    Four times faster than `tarfile` (a second per 50,000 images), which matters as training
    opens every shard once. None for anything else (long names, links, PAX or GNU headers, a bad
    header checksum), which `tarfile` then reads or reports. A member cut short by the end of
    the file ends the index there, as it would end a `tar xf`.
    """
    block = tarfile.BLOCKSIZE  # 512: every header, and every member's data padded to it
    found: dict[str, tuple[int, int]] = {}
    offset = 0
    while offset + block <= total:
        f.seek(offset)
        head = f.read(block)
        if head.count(0) == block:
            return found  # the end-of-archive blocks
        try:
            checksum = int(head[148:156].replace(b"\0", b" ").strip() or b"-1", 8)
            size = int(head[124:136].replace(b"\0", b" ").strip() or b"0", 8)
        except ValueError:
            return None
        if (
            checksum != sum(head[:148]) + 8 * 32 + sum(head[156:])
            or head[156:157] not in (b"0", b"\0")
            or head[257:262] != b"ustar"
            or head[345:346] != b"\0"  # a prefix: a name over 100 characters
        ):
            return None
        if offset + block + size > total:
            return found
        found[head[:100].split(b"\0", 1)[0].decode("utf-8", "replace")] = (offset + block, size)
        offset += block + -(-size // block) * block
    return found


def exists(path: str | os.PathLike) -> bool:
    """Whether `path` is a file, or a member of a shard that holds it."""
    named = member_of(path)
    if named is None:
        return os.path.isfile(path)
    try:
        return named[1] in index(named[0])
    except (OSError, ValueError):
        return False


def read_bytes(path: str | os.PathLike) -> bytes:
    """The bytes of a file, or of a shard's member. FileNotFoundError names what is missing."""
    named = member_of(path)
    if named is None:
        return Path(path).read_bytes()
    shard, member = named
    try:
        where = index(shard).get(member)
    except ValueError as exc:
        raise FileNotFoundError(str(exc)) from None
    if where is None:
        raise FileNotFoundError(f"{shard} holds no image {member}")
    return read_at(shard, [where])[0]


def read_at(shard: str | os.PathLike, spans: list[tuple[int, int]]) -> list[bytes]:
    """The bytes at each (offset, size) of one shard, read through one open file."""
    out = []
    with open(shard, "rb") as f:
        for offset, size in spans:
            f.seek(offset)
            data = f.read(size)
            if len(data) != size:
                raise FileNotFoundError(f"{shard}: truncated at byte {offset + len(data)} (shard damaged?)")
            out.append(data)
    return out


def extract(path: str | os.PathLike, folder: str | os.PathLike) -> Path:
    """A file holding the image `path` names: the file itself, or its shard member copied into `folder`.

    For tools that need a file of their own (Label Studio's local-files server). The copy
    is named after the member, which the crop stage made a digest, never a path.
    """
    named = member_of(path)
    if named is None:
        return Path(path)
    member = named[1]
    if member in (".", ".."):
        raise FileNotFoundError(f"{path}: names no image")
    dest = Path(folder) / member
    data = read_bytes(path)
    if not dest.is_file() or dest.read_bytes() != data:
        write_bytes(dest, data)
    return dest
