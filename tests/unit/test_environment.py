"""environment.yml, the conda environment of the workflow (conda users, `snakemake --use-conda`): the
packages of pyproject.toml, and no path that would change meaning in the copy Snakemake builds from
(conda is not installed here: these checks read the files as conda and Snakemake would)."""
import re
import tomllib

import yaml

from conftest import REPO


def test_the_environment_installs_exactly_the_packages_of_pyproject():
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pip = [d for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip) == 1, env["dependencies"]
    wanted = project["dependencies"] + project["optional-dependencies"]["test"]
    assert pip[0]["pip"] == wanted  # the same list, in the same order: they cannot drift apart
    # no local path: Snakemake builds --use-conda environments from a copy under .snakemake/conda/
    assert not [ln for ln in pip[0]["pip"] if ln.startswith(("-e", ".", "/", "file:"))]
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    minimum = tuple(int(x) for x in project["requires-python"].removeprefix(">=").split("."))
    assert tuple(int(x) for x in python.removeprefix("python=").split(".")) >= minimum


def test_every_rule_uses_environment_yml_and_the_workflow_puts_the_library_on_the_path():
    common = (REPO / "rules" / "common.smk").read_text()
    assert re.search(r'^CONDA_ENV = "\.\./environment\.yml"$', common, re.M)  # relative to rules/
    assert (REPO / "rules" / "../environment.yml").resolve() == (REPO / "environment.yml").resolve()
    assert re.search(r"^sys\.path\.insert\(0, workflow\.basedir\)$", common, re.M)  # before slug is imported
    assert common.index("sys.path.insert(0, workflow.basedir)") < common.index("from slug")
    # (that every rule has a conda directive is Snakemake's lint, run by tests/workflow/test_workflow.py)
    for smk in sorted((REPO / "rules").glob("*.smk")):
        for value in re.findall(r"^\s+conda:\n\s+(.+)$", smk.read_text(), re.M):
            assert value.strip() == "CONDA_ENV", (smk.name, value)
