"""The set-up files agree with each other.

pyproject.toml is the source of truth for dependencies; environment.yml
(conda, repo2docker/Binder) must list the same runtime packages with the same
lower bounds and install the project itself. The README's set-up section gives
exactly two commands, and CI runs the second of them.
"""

import os
import re
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, as tomli
    import tomli as tomllib

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent

# name, then an optional ">= version"; conda allows a space before the operator
_SPEC = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:>=\s*([0-9][^,;\s]*))?\s*$")


def _normalise(name):
    """PEP 503 name normalisation (conda names are lower case already)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _parse(spec):
    """'numpy>=2.2.6' -> ('numpy', '2.2.6'); a bare name -> (name, None)."""
    m = _SPEC.match(spec)
    assert m, f"cannot parse dependency {spec!r}: use 'name' or 'name>=version'"
    return _normalise(m.group(1)), m.group(2)


@pytest.fixture(scope="module")
def pyproject():
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


@pytest.fixture(scope="module")
def environment():
    with open(ROOT / "environment.yml") as f:
        return yaml.safe_load(f)


def _conda_and_pip(environment):
    conda, pip = [], []
    for dep in environment["dependencies"]:
        if isinstance(dep, dict):
            pip.extend(dep.get("pip", []))
        else:
            conda.append(dep)
    return conda, pip


def test_runtime_dependencies_have_lower_bounds(pyproject):
    for spec in pyproject["project"]["dependencies"]:
        name, lower = _parse(spec)
        assert lower, f"{name} in pyproject.toml has no '>=' lower bound"


def test_environment_matches_pyproject(pyproject, environment):
    wanted = dict(_parse(s) for s in pyproject["project"]["dependencies"])
    conda, _ = _conda_and_pip(environment)
    parsed = [_parse(s) for s in conda if not s.startswith("python=")]
    got = {name: lower for name, lower in parsed if name != "pip"}
    assert len(got) == len([n for n, _ in parsed if n != "pip"]), "duplicate conda dependency"
    assert got == wanted


def test_environment_is_conda_forge_only(environment):
    assert environment["name"] == "mmbook"
    assert environment["channels"] == ["conda-forge", "nodefaults"]
    conda, _ = _conda_and_pip(environment)
    assert "pip" in conda
    pythons = [s for s in conda if s.startswith("python")]
    assert pythons == ["python=3.11"]


def test_environment_installs_the_project(environment):
    _, pip = _conda_and_pip(environment)
    assert "-e ." in [p.strip() for p in pip]


def _setup_section(text):
    """The body of the README section whose heading is 'Set up' (any level)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^(#+)\s+set[ -]?up\b", line, re.IGNORECASE)
        if m:
            level = len(m.group(1))
            body = []
            for rest in lines[i + 1:]:
                h = re.match(r"^(#+)\s", rest)
                if h and len(h.group(1)) <= level:
                    break
                body.append(rest)
            return "\n".join(body)
    pytest.fail("README.md has no 'Set up' section")


def _fenced_blocks(text):
    return re.findall(r"^```[^\n]*\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


def test_readme_gives_exactly_two_setup_commands():
    readme = (ROOT / "README.md").read_text()
    blocks = _fenced_blocks(_setup_section(readme))
    assert len(blocks) == 1, "the set-up section should hold one fenced code block"
    commands = [
        line.split("#", 1)[0].strip()
        for line in blocks[0].splitlines()
        if line.split("#", 1)[0].strip()
    ]
    assert commands == ["make lab", "make test"]


def test_ci_runs_make_test():
    run = ROOT / ".ci" / "run"
    text = run.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    commands = [line.split("#", 1)[0].strip() for line in text.splitlines()[1:]]
    assert "make test" in commands
    assert os.access(run, os.X_OK), ".ci/run is not executable"


def test_test_extra_holds_the_html_extra(pyproject):
    """make test builds the HTML edition, so it installs what make html does."""
    extras = pyproject["project"]["optional-dependencies"]
    test = {spec.split(";")[0].strip() for spec in extras["test"]}
    for spec in extras["html"]:
        name, lower = _parse(spec)
        assert lower, f"{name} in the html extra has no '>=' lower bound"
        assert spec in test, f"{spec} is in the html extra but not in test"


def test_packages_are_found(pyproject):
    find = pyproject["tool"]["setuptools"]["packages"]["find"]
    assert find["include"] == ["mmsim*", "widgets*"]


def test_nbval_sanitize_replaces_only_repr_addresses():
    get_sanitize_patterns = pytest.importorskip("nbval.plugin").get_sanitize_patterns

    patterns = get_sanitize_patterns((ROOT / "tests" / "nbval_sanitize.cfg").read_text())
    assert patterns

    def sanitize(s):
        for regex, replace in patterns:
            s = re.sub(regex, replace, s)
        return s

    a = sanitize("[<matplotlib.lines.Line2D at 0x7f3a2c1b0d90>]")
    b = sanitize("[<matplotlib.lines.Line2D at 0x7fe01234abcd>]")
    assert a == b
    assert "0x7f3a2c1b0d90" not in a
    # the addresses the book prints on purpose stay as they are
    for s in ("mmap -> 0x7f3a2c1b0000", "vma 0x7f3a2c1b0000-0x7f3a2c1b4000 rw-s",
              "addr=0x7f3a2c1b0d90>", "<Hung at 0x10 in balance_dirty_pages>"):
        assert sanitize(s) == s
