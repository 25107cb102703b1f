"""Property-based tests of `profile --apply`: whatever way params.yaml is written (plain, single- or
double-quoted keys, a dataset whose name starts with a digit, flow or block sections, comments with
tabs in them, LF, CRLF or both), exactly the values the profile sets change and every other line
keeps its bytes; and what cannot be changed alone is refused in one line, the file left as it was."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fashioncat import config, profile, typed
from fashioncat.errors import FashionError

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def reads_as_text(key: str) -> bool:
    """Whether YAML reads `key` written plain as that string (`2nd` yes; `1_0`, `0b1`, `2021` are numbers)."""
    return yaml.safe_load(f"{key}: 0") == {key: 0}


DIGIT_NAME = st.from_regex(r"[0-9][a-z0-9_]{0,7}", fullmatch=True)
# what a comment may hold: anything YAML reads as one line, tabs and quotes and '#' included
COMMENT = st.text(
    st.characters(exclude_categories=("Cs", "Cc", "Cn", "Zl", "Zp"), include_characters="\t"), max_size=16
)
# a location is free text: quotes, '#', ': ', line breaks, NUL, non-ASCII all need writing with care
LOCATION = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
POSITIVE = st.floats(min_value=1e-9, max_value=1e6, allow_nan=False, allow_infinity=False)


def base(name: str) -> dict:
    """The repository's params.yaml as data, with a third dataset called `name`; mapping files absolute."""
    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    data["embedded"]["target_classes"] = str(ROOT / data["embedded"]["target_classes"])
    for dataset in data["datasets"].values():
        dataset["classes"] = str(ROOT / dataset["classes"])
    data["datasets"][name] = copy.deepcopy(data["datasets"]["target"])
    return data


def targets(name: str) -> dict[tuple, st.SearchStrategy]:
    """Values a profile may set, each with values params.yaml validates with."""
    return {
        ("seed",): st.integers(0, 2**31),
        ("crop", "size"): st.integers(1, 4096),
        ("crop", "margin"): st.floats(0, config.MAX_MARGIN),
        ("crop", "fit"): st.sampled_from(config.FITS),
        ("download", "timeout_s"): POSITIVE,
        ("download", "deadline_s"): POSITIVE,
        ("train", "epochs"): st.integers(1, 500),
        ("train", "hyper", "learning_rate"): POSITIVE,
        ("train", "hyper", "l1"): st.floats(0, 1),
        # null clears an override (a profile may not set an empty mapping: `dvc exp run -S` cannot clear one)
        ("train", "architectures", "vgg16", "learning_rate"): st.one_of(st.none(), POSITIVE),
        ("tune", "ray", "num_gpus"): st.floats(0, 8),
        ("tune", "grids", "augmentation", "rotation"): st.lists(
            st.integers(0, 360), min_size=1, max_size=4, unique=True
        ),
        ("datasets", "source", "location"): LOCATION,
        ("datasets", name, "location"): LOCATION,
        ("datasets", name, "per_class"): st.integers(1, 10**6),
        ("final", "anneal"): st.booleans(),
        ("label_issues", "filter_by"): st.sampled_from(config.LABEL_FILTERS),
    }


class Writer:
    """Writes data as params.yaml in styles drawn from `draw`, and notes where each value is."""

    def __init__(self, draw, eol: str):
        self.draw, self.eol, self.lines = draw, eol, []
        self.where: dict[tuple, tuple[int, str, str]] = {}  # path -> (line, text before the value, comment)
        self.in_flow: set[tuple] = set()  # values written inside a flow mapping, {a: 1, b: 2}

    def key(self, key: str) -> str:
        styles = ["plain", "single", "double"] if reads_as_text(key) else ["single", "double"]
        style = self.draw(st.sampled_from(styles))
        return {"plain": key, "single": f"'{key}'", "double": f'"{key}"'}[style]

    def value(self, value) -> str:
        style = self.draw(st.sampled_from([None, "'", '"'])) if isinstance(value, str) else None
        text = yaml.safe_dump(value, default_flow_style=True, default_style=style, width=10**9, allow_unicode=True)
        return text.strip().removesuffix("...").strip()

    def comment(self) -> str:
        if not self.draw(st.booleans()):
            return ""
        return " " * self.draw(st.integers(1, 4)) + "#" + self.draw(COMMENT)

    def line(self, text: str) -> int:
        ending = self.draw(st.sampled_from(["\n", "\r\n"])) if self.eol == "mixed" else self.eol
        self.lines.append(text + ending)
        return len(self.lines) - 1

    def mapping(self, data: dict, indent: int, path: tuple = ()) -> None:
        for key, value in data.items():
            if self.draw(st.integers(0, 5)) == 0:  # a comment line or an empty one between keys
                self.line(self.draw(st.sampled_from(["", " " * indent + "#" + self.draw(COMMENT)])))
            head = " " * indent + self.key(key) + ":"
            flat = (
                isinstance(value, dict)
                and value
                and all(not (isinstance(v, (dict, list)) and v) for v in value.values())
            )
            # an architecture's overrides are one value a profile may set whole ({}): never a section
            flow = flat and (path == ("train", "architectures") or self.draw(st.booleans()))
            if isinstance(value, dict) and value and not flow:
                self.line(head + self.comment())
                self.mapping(value, indent + self.draw(st.integers(1, 4)), (*path, key))
                continue
            gap = " " * self.draw(st.integers(1, 3))
            if isinstance(value, dict) and value:  # a flow mapping: {a: 1, b: 2}
                text = "{" + ", ".join(f"{self.key(k)}: {self.value(v)}" for k, v in value.items()) + "}"
                self.in_flow.update((*path, key, k) for k in value)
            else:
                text = self.value(value)
            comment = self.comment()
            at = self.line(head + gap + text + comment)
            for leaf in (
                [(*path, key), *((*path, key, k) for k in value)] if isinstance(value, dict) else [(*path, key)]
            ):
                self.where[leaf] = (at, head + gap, comment.lstrip(" "))

    def text(self) -> str:
        return "".join(self.lines)


@st.composite
def documents(draw):
    """A params.yaml as written by `Writer`, the digit-leading dataset name in it, and its data."""
    name = draw(DIGIT_NAME)
    data = base(name)
    writer = Writer(draw, draw(st.sampled_from(["\n", "\r\n", "mixed"])))
    writer.mapping(data, 0)
    return writer, name, data


@st.composite
def profiles(draw, name: str):
    """A profile setting 1-6 of the `targets`: the overlay and the key paths it sets."""
    table = targets(name)
    chosen = draw(st.lists(st.sampled_from(sorted(table, key=str)), min_size=1, max_size=6, unique=True))
    overlay, paths = {}, []
    for path in chosen:
        value = draw(table[path])
        node = overlay
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
        paths += [(*path, k) for k in value] if isinstance(value, dict) and value else [path]
    return overlay, paths


def same(a, b) -> bool:
    """Equal as YAML data, types included (1 is not 1.0 nor true)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def overlaid(data: dict, overlay: dict) -> dict:
    out = copy.deepcopy(data)
    for key, value in overlay.items():
        out[key] = overlaid(out[key], value) if isinstance(value, dict) and value else value
    return out


def write_profile(path: Path, overlay: dict) -> None:
    # all non-ASCII escaped: with allow_unicode PyYAML writes a raw NEL (\x85) in quotes, which reads back as a space
    path.write_text(yaml.safe_dump(overlay), encoding="utf-8")
    assert same(yaml.safe_load(path.read_text(encoding="utf-8")), overlay)


def apply(text: str, overlay: dict) -> tuple[bytes, bytes]:
    """params.yaml's bytes before and after `profile --apply` of `overlay`."""
    with tempfile.TemporaryDirectory() as tmp:
        params, folder = Path(tmp) / "params.yaml", Path(tmp) / "profiles"
        folder.mkdir()
        write_profile(folder / "p.yaml", overlay)
        params.write_bytes(text.encode("utf-8"))
        before = params.read_bytes()
        returned = profile.apply("p", params, folder)
        after = params.read_bytes()
        assert after == returned.encode("utf-8")
        return before, after


def refusal(text: str, overlay: dict) -> str:
    """The one-line error `profile --apply` gives; params.yaml is left byte for byte."""
    with tempfile.TemporaryDirectory() as tmp:
        params, folder = Path(tmp) / "params.yaml", Path(tmp) / "profiles"
        folder.mkdir()
        write_profile(folder / "p.yaml", overlay)
        params.write_bytes(text.encode("utf-8"))
        try:
            profile.apply("p", params, folder)
        except FashionError as exc:
            message = str(exc)
        else:
            raise AssertionError("applied")
        assert params.read_bytes() == text.encode("utf-8")
        assert "\n" not in message and "\r" not in message
        return message


@SETTINGS
@given(st.data())
def test_exactly_the_values_a_profile_sets_change_and_every_other_byte_stays(data):
    writer, name, params = data.draw(documents())
    text, where = writer.text(), writer.where
    overlay, paths = data.draw(profiles(name))
    assert same(typed.parse(text), params)  # the document says what it was written from
    before, after = apply(text, overlay)

    assert same(yaml.safe_load(after.decode("utf-8")), overlaid(params, overlay))
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(new) == len(old)
    touched = {where[path][0] for path in paths}
    for i, (a, b) in enumerate(zip(old, new)):
        if i not in touched:
            assert b == a
    for path in paths:  # on a changed line: the key as written, the comment and the line ending stay
        i, head, comment = where[path]
        ending = b"\r\n" if old[i].endswith(b"\r\n") else b"\n"
        assert new[i].startswith(head.encode("utf-8")) and new[i].endswith(comment.encode("utf-8") + ending)


@SETTINGS
@given(st.data())
def test_a_value_tied_to_an_anchor_is_refused_naming_the_key(data):
    writer, name, _ = data.draw(documents())
    text, where = writer.text(), writer.where
    overlay, paths = data.draw(profiles(name))
    path = data.draw(st.sampled_from([p for p in paths if p not in writer.in_flow] or paths))
    if path in writer.in_flow:  # `&v {a: 1}` would anchor the mapping around the value, not the value
        return
    i, head, _ = where[path]
    lines = text.splitlines(keepends=True)
    assert lines[i].startswith(head)
    lines[i] = head + "&v " + lines[i][len(head) :]
    if data.draw(st.booleans()):  # an alias repeats it somewhere else: still one line, never a traceback
        lines.append("extra: *v\n")
    message = refusal("".join(lines), overlay)
    assert f"{'.'.join(path)} is tied to the YAML anchor &v;" in message


@SETTINGS
@given(st.data())
def test_a_tab_before_a_comment_is_refused_as_yaml_the_stages_read(data):
    writer, name, _ = data.draw(documents())
    overlay, _ = data.draw(profiles(name))
    lines = writer.text().splitlines(keepends=True)
    commented = [i for i, line in enumerate(lines) if " #" in line and not line.lstrip(" ").startswith("#")]
    if not commented:
        return
    i = data.draw(st.sampled_from(commented))
    at = lines[i].index(" #")
    lines[i] = lines[i][:at] + "\t" + lines[i][at + 1 :]
    message = refusal("".join(lines), overlay)
    assert f"params.yaml:{i + 1}: not valid YAML" in message
