"""Label Studio's formats: pre-annotated tasks to import, and the labelling configuration that matches them.

A task is one image with one prediction: a `choices` result naming the model's top class,
its probability as `score` (reviewers sort by it), and `model_version`, a digest of the
bundle, so predictions from two models are never mixed up. The configuration's `<Choices>`
list the classes in the model's order; its `name`/`toName` are the `from_name`/`to_name`
every result carries, which Label Studio requires to match.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote
from xml.etree import ElementTree
from xml.sax.saxutils import quoteattr

from fashioncat.errors import FashionError

FROM_NAME, TO_NAME = "choice", "image"
# Label Studio serves files under LOCAL_FILES_DOCUMENT_ROOT at this path when
# LOCAL_FILES_SERVING_ENABLED=true; `d` is the file's path below that root.
LOCAL_FILES = "/data/local-files/?d="


def labeling_config(classes: Sequence[str]) -> str:
    """The project's labelling configuration (XML): one image, one choice among `classes`."""
    choices = "\n".join(f"    <Choice value={quoteattr(name)}/>" for name in classes)
    return (
        "<View>\n"
        f'  <Image name="{TO_NAME}" value="$image"/>\n'
        f'  <Choices name="{FROM_NAME}" toName="{TO_NAME}" choice="single" showInLine="true">\n'
        f"{choices}\n"
        "  </Choices>\n"
        "</View>\n"
    )


@dataclass(frozen=True)
class Names:
    """What a labelling configuration calls things: results name `from_name`/`to_name`, the image is data[image_key]."""

    from_name: str = FROM_NAME
    to_name: str = TO_NAME
    image_key: str = "image"
    choices: tuple[str, ...] = ()


def names(config: str | None) -> Names:
    """The first `<Choices>` of a labelling configuration and the `<Image>` it labels; defaults without a config.

    A FashionError (one line) when the configuration has no such pair: the backend's
    choices would land nowhere.
    """
    if not config:
        return Names()
    if len(config) > 1 << 20:
        raise FashionError("labelling configuration larger than 1 MB")
    try:
        root = ElementTree.fromstring(config)
    except ElementTree.ParseError as exc:
        raise FashionError(f"labelling configuration is not XML ({exc})") from None
    images = {e.get("name"): e.get("value", "") for e in root.iter() if e.tag == "Image"}
    for element in root.iter():
        if element.tag == "Choices" and element.get("toName") in images:
            value = images[element.get("toName")]
            if not value.startswith("$") or len(value) < 2:
                raise FashionError(f"labelling configuration: <Image> value {value!r} must name a task field ($image)")
            chosen = tuple(c.get("value", "") for c in element.iter() if c.tag == "Choice")
            return Names(element.get("name") or "", element.get("toName"), value[1:], chosen)
    raise FashionError("labelling configuration has no <Choices> for an <Image>: nothing to predict")


def image_reference(path: str, image_root: str | None) -> str:
    """How Label Studio reaches the image: below `image_root` (a URL) or through its local-files server."""
    if image_root:
        return f"{image_root.rstrip('/')}/{quote(path.lstrip('/'))}"
    return local_file(str(Path(path).resolve()))


def local_file(path: str) -> str:
    """The image through Label Studio's local-files server; `path` is below its LOCAL_FILES_DOCUMENT_ROOT."""
    return LOCAL_FILES + quote(path.lstrip("/"))


def task(path: str, label: str, score: float, model_version: str, image: str, **data) -> dict:
    """One pre-annotated task for the image `image` links to; `data` adds fields a reviewer sees beside it."""
    result_id = hashlib.sha1(f"{path}:{label}".encode()).hexdigest()[:10]
    return {
        "data": {"image": image, "path": path, **data},
        "predictions": [
            {
                "model_version": model_version,
                "score": round(float(score), 4),
                "result": [
                    {
                        "id": result_id,
                        "type": "choices",
                        "from_name": FROM_NAME,
                        "to_name": TO_NAME,
                        "value": {"choices": [label]},
                    }
                ],
            }
        ],
    }


def model_version(path: str | Path) -> str:
    """A short digest of a model file, or of every file of a bundle folder: the predictions' model_version."""
    path = Path(path)
    if path.is_dir():
        files = [(f.relative_to(path).as_posix(), f) for f in sorted(path.rglob("*")) if f.is_file()]
    else:
        files = [("", path)]
    digest = hashlib.sha256()
    for name, file in files:
        digest.update(name.encode())  # a renamed file in a bundle is another bundle
        with open(file, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return f"fashioncat-{digest.hexdigest()[:12]}"


def config_path(tasks: str | Path) -> Path:
    """Where the labelling configuration goes beside a tasks file: tasks.json -> tasks.label_config.xml."""
    tasks = Path(tasks)
    return tasks.with_name(f"{tasks.stem}.label_config.xml")
