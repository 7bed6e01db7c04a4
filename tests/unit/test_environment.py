"""environment.yml: what `conda env create -f environment.yml` installs from the repository root, and the
named environment every rule's `conda:` directive uses (conda is not installed here: these checks read
the files as conda and Snakemake would)."""
import re
import tomllib

import yaml

from conftest import REPO


def _pip_lines():
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = [d for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip) == 1, env["dependencies"]
    return env, pip[0]["pip"]


def test_the_pip_step_installs_this_repository_with_the_extras_it_names():
    env, lines = _pip_lines()
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    editable = [ln for ln in lines if ln.startswith("-e ")]
    assert len(editable) == 1, lines
    m = re.fullmatch(r"-e (\S+?)(?:\[([\w,]+)\])?", editable[0])
    # conda runs pip in the folder of the environment file: a relative path is relative to it
    target = (REPO / m.group(1)).resolve()
    assert target == REPO.resolve() and (target / "pyproject.toml").exists()
    assert set((m.group(2) or "").split(",")) - {""} <= set(project["optional-dependencies"])
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    minimum = tuple(int(x) for x in project["requires-python"].removeprefix(">=").split("."))
    assert tuple(int(x) for x in python.removeprefix("python=").split(".")) >= minimum


def test_every_rule_uses_the_named_environment_the_file_creates():
    env, _ = _pip_lines()
    common = (REPO / "rules" / "common.smk").read_text()
    # the name comes from environment.yml itself, not from a path Snakemake would copy away from the repository
    assert re.search(r'^CONDA_ENV = load_yaml\(os.path.join\(workflow.basedir, "environment.yml"\)\)\["name"\]$',
                     common, re.M)
    assert env["name"] == "slug-pipeline" and not env["name"].endswith((".yml", ".yaml"))
    # (that every rule has a conda directive is Snakemake's lint, run by tests/workflow/test_workflow.py)
    for smk in sorted((REPO / "rules").glob("*.smk")):
        text = smk.read_text()
        for value in re.findall(r"^\s+conda:\n\s+(.+)$", text, re.M):
            assert value.strip() == "CONDA_ENV", (smk.name, value)
