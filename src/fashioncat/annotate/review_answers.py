"""The reviewers' answers in a Label Studio JSON export of the review queue, every field checked.

An answer is a finished annotation (not cancelled) with a choice. Every one is kept,
not only a task's newest: `review_import` orders all answers to an image by their time,
across tasks and exports. Times are ISO 8601 and compared as instants, so
`08:00+02:00` is older than `07:00Z`; a time without an offset is UTC, as Label Studio
writes them. Labels are read in Unicode NFC and must be classes.

A field of the wrong JSON type, a time that is not one, or a label that is not a class
is a one-line FashionError naming the export and the task (`review.json[3] (task 17)`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from fashioncat.data.corrections import class_names, nfc
from fashioncat.errors import FashionError

REVIEW_FIELDS = ("source_image", "given_label")


@dataclass(frozen=True)
class Answer:
    image: str
    given: str  # the label the reviewer was shown (NFC)
    label: str  # their answer (NFC)
    by: str
    at: str  # the time as exported
    when: datetime  # `at` as an instant, in UTC
    where: str  # export and task, for messages


def shown(text: str) -> str:
    """`text` as a message shows it: as it is, or quoted with escapes when it would break the line."""
    return text if text.isprintable() else repr(text)


def parse_time(text: str) -> datetime | None:
    """`text` as an instant in UTC (UTC when it has no offset); None when it is no ISO 8601 time."""
    try:
        when = datetime.fromisoformat(text.strip())
        return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def read(export, where: str, classes: list[str]) -> tuple[list[Answer], list[str]]:
    """Every answer in `export` (the parsed JSON), in export order, and the tasks nobody answered, each named."""
    if not isinstance(export, list):
        raise FashionError(f"{where}: not a Label Studio JSON export (a list of tasks)")
    names = class_names(classes)
    answers, unanswered = [], []
    for index, task in enumerate(export):
        found = _task(task, _name(where, index, task), names)
        if found:
            answers += found
        else:
            image = shown(task["data"]["source_image"])
            unanswered.append(f"{_name(where, index, task)}: {image}: no finished annotation")
    return answers, unanswered


def _name(where: str, index: int, task) -> str:
    task_id = task.get("id") if isinstance(task, dict) else None
    known = isinstance(task_id, str | int) and not isinstance(task_id, bool)
    return f"{where}[{index}] (task {shown(str(task_id))})" if known else f"{where}[{index}]"


def _task(task, where: str, names: dict[str, str]) -> list[Answer]:
    if not isinstance(task, dict):
        raise FashionError(f"{where}: a task must be a JSON object, not {_kind(task)}")
    data = _typed(task, "data", dict, where) or {}
    image, given = (_typed(data, key, str, where, "data.") for key in REVIEW_FIELDS)
    if not image or not given:
        raise FashionError(
            f"{where}: task has no source_image/given_label: this is not an export of the review"
            " queue (plots/5_label_issues/review_tasks.json)"
        )
    given = _label(given, image, "given_label", where, names)
    annotations = _typed(task, "annotations", list, where) or []
    found = []
    for number, annotation in enumerate(annotations):
        place = f"{where}: annotations[{number}]"
        if not isinstance(annotation, dict):
            raise FashionError(f"{place} must be a JSON object, not {_kind(annotation)}")
        choice, cancelled = _choice(annotation, place), _typed(annotation, "was_cancelled", bool, place)
        time, by = _time(annotation, place), _by(annotation, place)  # checked even when not used
        if cancelled or choice is None:
            continue
        if time is None:
            raise FashionError(f"{place}: no updated_at or created_at, so the answer cannot be ordered")
        label = _label(choice, image, "answer", where, names)
        found.append(Answer(image, given, label, by, *time, where))
    return found


def _choice(annotation: dict, where: str) -> str | None:
    """The annotation's choice, None when it has none; every result is type-checked, and every choice."""
    chosen = None
    for number, result in enumerate(_typed(annotation, "result", list, where) or []):
        place = f"{where}.result[{number}]"
        if not isinstance(result, dict):
            raise FashionError(f"{place} must be a JSON object, not {_kind(result)}")
        if _typed(result, "type", str, place) != "choices":
            continue
        value = _typed(result, "value", dict, place) or {}
        choices = _typed(value, "choices", list, place, "value.") or []
        if not all(isinstance(c, str) for c in choices):
            raise FashionError(f"{place}: value.choices must be a list of strings, not {_short(choices)}")
        if len(choices) > 1 or (choices and chosen is not None):
            raise FashionError(f"{where}: more than one choice; the review takes one class per image")
        chosen = choices[0] if choices else chosen
    return chosen


def _time(annotation: dict, where: str) -> tuple[str, datetime] | None:
    """The annotation's time (updated_at, else created_at) as written and as an instant; None without one."""
    times = []
    for key in ("updated_at", "created_at"):
        at = _typed(annotation, key, str, where)
        if at is not None:
            when = parse_time(at)
            if when is None:
                raise FashionError(f"{where}: {key} {_short(at)} is not an ISO 8601 time")
            times.append((at, when))
    return times[0] if times else None


def _by(annotation: dict, where: str) -> str:
    by = annotation.get("completed_by")
    if isinstance(by, dict):
        email = _typed(by, "email", str, where, "completed_by.")
        return email if email is not None else _user(by.get("id"), f"{where}: completed_by.id")
    return _user(by, f"{where}: completed_by")


def _user(value, where: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return str(value)
    raise FashionError(f"{where} must be a user id or email, not {_kind(value)} {value!r}")


def _label(label: str, image: str, what: str, where: str, names: dict[str, str]) -> str:
    if nfc(label) not in names:
        known = ", ".join(shown(c) for c in names.values())
        raise FashionError(f"{where}: {shown(image)}: {what} {label!r} is not a class (classes: {known})")
    return nfc(label)


def _typed(mapping: dict, key: str, kind: type, where: str, prefix: str = ""):
    """`mapping[key]`, None when it is absent or null; a value of another JSON type is an error."""
    value = mapping.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise FashionError(f"{where}: {prefix}{key} must be {_JSON[kind]}, not {_kind(value)} {_short(value)}")
    return value


_JSON = {dict: "an object", list: "a list", str: "a string", bool: "true or false"}


def _kind(value) -> str:
    kinds = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
