"""The committed result files that the README quotes: they parse, and every docs/ path the README names exists."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
JSON_FILES = sorted(DOCS.rglob("*.json"))
JSONL_FILES = sorted(DOCS.rglob("*.jsonl"))
# docs/... ending in .json, .png or .md, not part of a longer path or name (e.g. not "mydocs/x.md")
README_DOC_PATH = re.compile(r"(?<![\w./-])docs/[\w./-]*?\.(?:json|png|md)(?![\w-])")


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def readme_doc_paths() -> set[str]:
    return set(README_DOC_PATH.findall((ROOT / "README.md").read_text(encoding="utf-8")))


def test_the_files_are_found():
    """Guards the two tests below against passing on nothing (a moved folder, a broken pattern)."""
    assert "docs/benchmarks/speed.json" in map(relative, JSON_FILES)
    assert "docs/default-model/train.log.jsonl" in map(relative, JSONL_FILES)
    assert {"docs/benchmarks/speed.json", "docs/benchmarks/speed.md", "docs/images/default_model.png"} <= readme_doc_paths()


@pytest.mark.parametrize("path", JSON_FILES, ids=relative)
def test_docs_json_parses(path):
    """Pure JSON, as `python -m json.tool` and every reader expect: no progress lines around the object."""
    with path.open(encoding="utf-8") as file:
        json.load(file)


@pytest.mark.parametrize("path", JSONL_FILES, ids=relative)
def test_docs_jsonl_lines_parse(path):
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            json.loads(line)
        except json.JSONDecodeError as error:
            raise AssertionError(f"{relative(path)}:{number}: {error}") from None


def test_readme_docs_paths_exist():
    missing = sorted(path for path in readme_doc_paths() if not (ROOT / path).is_file())
    assert not missing, f"README.md names files that do not exist: {missing}"


def test_the_readme_set_up_says_how_to_get_the_pinned_cpu_build_of_torch():
    """requirements-dev.txt pins torch's version only, which on Linux resolves from PyPI to a CUDA build: the set-up
    must name PyTorch's CPU index with the pinned version, and not claim the plain install gets the CPU build."""
    pin = re.search(r"^torch==(\S+)$", (ROOT / "requirements-dev.txt").read_text(), re.MULTILINE)
    set_up = (ROOT / "README.md").read_text(encoding="utf-8").split("```bash\n", 1)[1].split("```", 1)[0]
    assert pin and f"--index-url https://download.pytorch.org/whl/cpu torch=={pin[1]}" in set_up
    assert "installs the CPU build" not in set_up


def test_ci_installs_as_the_readme_says():
    """.ci/run runs the README's set-up lines, in order (a step only CI knows would hide a missing one)."""
    set_up = (ROOT / "README.md").read_text(encoding="utf-8").split("```bash\n", 1)[1].split("# main job", 1)[0]
    readme_lines = [line for line in set_up.splitlines() if line and not line.startswith("#")]
    ci_lines = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line in readme_lines]
    assert readme_lines and ci_lines == readme_lines, (readme_lines, ci_lines)
