"""The README is a front door and the docs a site whose figures of the committed run are never typed by hand."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fashioncat.reporting import report

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted((ROOT / "docs").glob("*.md"))
INCLUDE = re.compile(r'^\s*--8<--\s+"([^"]+)"\s*$')

# Leaf keys of the metrics files that hold a measurement (not a parameter echoed back).
MEASURED = re.compile(
    r"accuracy|precision|recall|f1|loss|seconds|share|spread|mean|std|time_saved|gap|issues|kept|total"
)


def _leaves(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, (*path, str(key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _leaves(value, (*path, str(i)))
    else:
        yield path, node


def _numbers(node) -> set[float]:
    return {v for _, v in _leaves(node) if isinstance(v, int | float) and not isinstance(v, bool)}


def written_forms(key: str, value: float) -> set[str]:
    """How a page would spell this measurement if someone retyped it (each form checked by hand against the report)."""
    if "seconds" in key:
        # whole seconds only from a minute up: "killed after 10 s" is prose, not a stage's time
        return ({f"{value:.1f} s"} if value >= 10 else set()) | ({f"{value:.0f} s"} if value >= 60 else set())
    if isinstance(value, int):
        return {str(value), f"{value:,}"} if value >= 100 else set()
    if 0 < abs(value) < 1:
        # ratios people round to a whole percent ("saved 42%"); accuracies keep a decimal (95% is a CI, 10% chance)
        whole = {f"{100 * value:.0f}%"} if key in ("time_saved", "share") else set()
        return {f"{value:.3f}", f"{100 * value:.1f}%"} | whole
    return set()


def committed_figures() -> dict[str, str]:
    """Every spelling of every measured figure in the committed metrics, mapped to where it comes from."""
    params = _numbers(yaml.safe_load((ROOT / "params.yaml").read_text()))
    # a parameter written out (learning rate 0.001) is not a figure, even where a figure rounds to it
    spelled_params = {f for p in params for f in (str(p), f"{p:.3f}", f"{p:g}")}
    forms: dict[str, str] = {}
    for path in sorted((ROOT / "metrics").rglob("*.json")):
        for keys, value in _leaves(json.loads(path.read_text())):
            if not keys or isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if not MEASURED.search(keys[-1]) or keys[-1].startswith("paper_") or value in params:
                continue
            if path.name.startswith("balance_") and keys[-1] in ("kept", "dropped_total"):
                continue  # set by the counts asked for (per_class times the classes), round numbers prose uses too
            for form in written_forms(keys[-1], value) - spelled_params:
                forms.setdefault(form, f"{path.relative_to(ROOT)}:{'.'.join(keys)}")
    return forms


def typed_text(page: Path) -> str:
    """A page's own text: what its author typed, without the lines that include generated files and
    without ```yaml blocks, which show parameters to set (per_class: 500), not results."""
    kept, in_yaml = [], False
    for line in page.read_text(encoding="utf-8").splitlines():
        fence = line.strip().startswith("```")
        if fence:
            in_yaml = not in_yaml and line.strip() == "```yaml"
        if not (INCLUDE.match(line) or in_yaml or fence):
            kept.append(line)
    return "\n".join(kept)


def retyped(text: str, forms: dict[str, str]) -> list[str]:
    found = []
    for form, origin in forms.items():
        # a figure stands alone: not part of a longer number, a version or an identifier
        if re.search(rf"(?<![\w.,]){re.escape(form)}(?![\w%]|[.,]\d)", text):
            found.append(f"{form} ({origin})")
    return found


def test_yaml_examples_are_parameters_but_other_code_blocks_are_checked(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("a\n```yaml\nper_class: 500\n```\n```\n$ run\n0.853\n```\nb\n")
    assert typed_text(page) == "a\n$ run\n0.853\nb"


def test_the_retyped_figure_check_catches_the_drifts_the_issue_found_and_spares_params():
    forms = {"0.853": "metrics/evaluate.json:accuracy", "42%": "metrics/finetune/summary.json:time_saved"}
    assert retyped("The final model reaches 0.853 test accuracy.", forms) == ["0.853 (metrics/evaluate.json:accuracy)"]
    assert retyped("whole_model took 58% of the time, saving 42%.", forms) == [
        "42% (metrics/finetune/summary.json:time_saved)"
    ]
    assert retyped("version 10.853 and 0.8531 and 142% are other numbers", forms) == []
    # worked by hand from the committed figures: 0.4226 is spelled 0.423, 42.3% or 42%; 790.1 s as 790 s
    assert written_forms("time_saved", 0.4226) == {"0.423", "42.3%", "42%"}
    assert written_forms("fit_seconds", 790.1) == {"790 s", "790.1 s"}
    assert written_forms("issues", 226) == {"226"} and written_forms("kept", 20500) == {"20500", "20,500"}
    assert written_forms("stage_seconds", 0.3) == set()


def test_no_page_and_not_the_readme_retypes_a_figure_of_the_committed_run():
    forms = committed_figures()
    assert len(forms) > 100, "the committed metrics should give many figures to look for"
    # the drifts the issue found would be caught today: the final model's test accuracy, Table 6's time saved
    # and the final fit's seconds, each spelled by hand from its file as a page would write it
    accuracy = json.loads((ROOT / "metrics/evaluate.json").read_text())["accuracy"]
    saved = json.loads((ROOT / "metrics/finetune/summary.json").read_text())["time_saved"]
    fit = json.loads((ROOT / "metrics/details/final.json").read_text())["fit_seconds"]
    assert f"{accuracy:.3f}" in forms and f"{100 * saved:.1f}%" in forms and f"{fit:.0f} s" in forms
    offences = {page.name: retyped(typed_text(page), forms) for page in [*PAGES, ROOT / "README.md"]}
    assert {name: found for name, found in offences.items() if found} == {}


def test_every_part_of_the_report_is_shown_somewhere_in_the_docs_and_every_include_exists():
    included = set()
    for page in PAGES:
        for line in page.read_text(encoding="utf-8").splitlines():
            if match := INCLUDE.match(line):
                target, _, section = match.group(1).partition(":")
                assert (ROOT / target).is_file(), f"{page.name} includes {target}, which does not exist"
                if target == "metrics/report.md":
                    included.add(section)
    assert set(report.SECTIONS) - {"intro"} <= included <= set(report.SECTIONS)
    text = (ROOT / "metrics/report.md").read_text(encoding="utf-8")
    for name in report.SECTIONS:
        assert f"<!-- --8<-- [start:{name}] -->" in text and f"<!-- --8<-- [end:{name}] -->" in text


def _slug(heading: str) -> str:
    """MkDocs' anchor for a heading (Python-Markdown's toc slugify), worked out for the headings used here."""
    text = re.sub(r"[`*]", "", heading).strip().lower()
    text = re.sub(r"[^\w\s-]", "", text)
    return re.sub(r"[-\s]+", "-", text).strip("-")


def _anchors(page: Path) -> set[str]:
    return {_slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+)$", page.read_text(encoding="utf-8"), re.M)}


def test_the_readme_is_a_front_door_with_one_click_to_own_data_paper_scale_and_label_studio():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    links = re.findall(r"\]\((docs/[^)#]+\.md)(?:#([^)]+))?\)", text)
    for page, anchor in links:
        assert (ROOT / page).is_file(), page
        assert not anchor or anchor in _anchors(ROOT / page), f"{page}#{anchor}"
    targets = {f"{page}#{anchor}" for page, anchor in links}
    assert {"docs/data.md#your-own-data", "docs/scaling.md#paper-scale", "docs/annotating.md#label-studio"} <= targets
    assert "make docs" in text and "http://127.0.0.1:8000" in text


def test_the_anchor_rule_matches_what_mkdocs_writes():
    assert _slug("Your own data") == "your-own-data"
    assert _slug("The noise band: a result or a new seed?") == "the-noise-band-a-result-or-a-new-seed"
    assert _slug("Tuning trials in parallel: `tune.executor: ray`") == "tuning-trials-in-parallel-tuneexecutor-ray"


def _build(docs_root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(docs_root / ".site")],
        cwd=docs_root,
        capture_output=True,
        text=True,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": str(Path(sys.executable).parent)},
    )


@pytest.fixture
def site_copy(tmp_path):
    """The docs, their config and the files they include, copied so that a test can break them."""
    for name in ("docs", "bench", "metrics", "plots"):
        shutil.copytree(ROOT / name, tmp_path / name, symlinks=True, ignore=shutil.ignore_patterns("*.py", "*.jsonl"))
    shutil.copy(ROOT / "mkdocs.yml", tmp_path)
    return tmp_path


def test_the_strict_build_passes_and_fails_on_a_broken_link_or_a_missing_include(site_copy):
    assert _build(site_copy).returncode == 0
    page = site_copy / "docs/transfer.md"
    original = page.read_text()
    page.write_text(original + "\nSee [nowhere](nowhere.md).\n")
    assert "nowhere.md" in _build(site_copy).stderr
    page.write_text(original.replace("metrics/report.md:table6", "metrics/report.md:table7"))
    assert _build(site_copy).returncode != 0
    page.write_text(original)
    (site_copy / "bench/data_layout.md").unlink()
    assert _build(site_copy).returncode != 0
