"""Config checks that build the DAG with Snakemake: text scalars from --config, a sheet of hundreds of concepts."""
import re

import pytest

from slug.config import ConfigError, load_yaml, validate_config
from conftest import REPO


@pytest.fixture
def demo():
    return load_yaml(REPO / "config.yaml")


def test_text_scalars_from_snakemakes_config_mappings_become_the_schemas_types(demo, tmp_path):
    import subprocess
    import sys

    demo["pretrain"] = {"epochs": "7", "lr": "3e-4"}  # what --config 'pretrain={epochs: 7, lr: 3e-4}' gives
    demo["search"].update(max_retain_drop="null", rho_margin="0.2", criterion={"metric": "forget_top1", "max": "0"})
    demo["data"]["retain_shards"] = ["0"]
    demo["model"]["name"] = "123"  # a string in the schema: stays text
    cfg = validate_config(demo)
    assert cfg["pretrain"]["epochs"] == 7 and cfg["pretrain"]["lr"] == 3e-4
    assert cfg["search"]["max_retain_drop"] is None and cfg["search"]["rho_margin"] == 0.2
    assert cfg["search"]["criterion"]["max"] == 0.0 and cfg["data"]["retain_shards"] == [0]
    assert cfg["model"]["name"] == "123" and cfg["search"]["criterion"]["metric"] == "forget_top1"
    demo["pretrain"] = {"epochs": "ten"}
    with pytest.raises(ConfigError, match="'pretrain.epochs': 'ten' is not of type 'integer'"):
        validate_config(demo)
    for bad in ("nan", "inf", "1_000"):  # float() takes these; a config value must not
        demo["pretrain"] = {"lr": bad}
        with pytest.raises(ConfigError, match=f"'pretrain.lr': '{bad}' is not of type 'number'"):
            validate_config(demo)
    demo["pretrain"] = {"lr": "1"}
    assert validate_config(demo)["pretrain"]["lr"] == 1 and isinstance(validate_config(demo)["pretrain"]["lr"], int)
    # the real command line: Snakemake passes the mapping's values as text, the workflow takes them
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "-n",
                           "results/models/slug-demo/checkpoint.pt", "--directory", str(tmp_path),
                           "--configfile", str(REPO / "config.yaml"), "--config", "pretrain={epochs: 7, lr: 3e-4}"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "rule pretrain" in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.slow
def test_a_sheet_of_hundreds_of_concepts_builds_one_dag(tmp_path):
    import shutil
    import subprocess
    import sys

    shutil.copy(REPO / "tests" / "configs" / "tiny.yaml", tmp_path / "config.yaml")
    rows = "".join(f"person_{i:03d}\tPerson {i:03d}\n" for i in range(200))
    (tmp_path / "concepts.tsv").write_text("id\tname\n" + rows)
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "-n", "all",
                           "--directory", str(tmp_path), "--config", "concept_sheet=concepts.tsv"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", proc.stdout.split("Job stats:")[-1], re.M))
    assert int(jobs["forget_gradient"]) == 202 and int(jobs["retain_gradient"]) == 1  # 200 + the 2 of the mapping
