"""Real Snakemake runs of the whole workflow on a tiny world and a tiny model."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import yaml

from conftest import REPO, smk

pytestmark = pytest.mark.slow


def jobs_of(dry_run_output: str) -> dict[str, int]:
    """Parse the 'Job stats' table of a dry run into {rule: count}."""
    table = dry_run_output.split("Job stats:")[-1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M) if m.group(1) != "total"}


def test_end_to_end_meets_the_forget_criterion_within_the_retain_bound(run):
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    sel = json.loads((run / "results/elon_musk/selection.json").read_text())
    assert sel["criterion_met"] and sel["criterion"] == "forget_top1 <= 0"
    assert sel["metrics_search_split"]["forget_top1"] == 0.0
    assert sel["baseline_search_split"]["forget_top1"] > 1 / cfg["world"]["n_identities"]  # recognised: above chance
    assert sel["retain_bound_met"]
    for key in ("retain_id_top1", "objects_top1"):
        drop = sel["baseline_search_split"][key] - sel["metrics_search_split"][key]
        assert drop <= cfg["search"]["max_retain_drop"] + 1e-9, key
    assert sel["lambda"] > 0 and sel["layer"] in sel["layers_searched"]
    assert set(sel["inputs_sha256"]) >= {"forget", "layers", "checkpoint"}
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True)
    except OSError:  # no git here: nothing to compare with
        head = None
    if head is not None and head.returncode == 0:
        assert sel["versions"]["slug-pipeline commit"].split("+")[0] == head.stdout.strip()  # which code made it

    metrics = json.loads((run / "results/elon_musk/metrics.json").read_text())
    assert metrics["before"]["forget_top1"] > metrics["after"]["forget_top1"]
    # the forget set's own image-text match collapses, so a membership classifier tells it from non-members
    # better than before (the paper's MIA rises after SLUG), and the target's cosine falls most
    b, a = metrics["before"], metrics["after"]
    assert abs(a["mia_mean"] - 50) > abs(b["mia_mean"] - 50) + 2 * a["mia_std"]
    fall = [b["cosine_matrix"][i][i] - a["cosine_matrix"][i][i] for i in range(len(a["cosine_matrix"]))]
    assert metrics["cosine_names"][0] == "Elon Musk" and fall[0] == max(fall) > 0.2
    for key in ("retain_id_top1", "objects_top1"):  # each retain change with its bootstrap interval
        ci = metrics["change_ci"][key]
        assert ci["change"] == pytest.approx(metrics["change"][key], abs=1e-6)
        assert ci["ci"][0] <= ci["change"] <= ci["ci"][1]
    assert metrics["change_ci"]["objects_top1"]["n_images"] == metrics["n_object_images"]
    stats = json.loads((run / "results/elon_musk/forget_stats.json").read_text())
    assert stats["kept"] == min(stats["matches"] - stats["duplicates_dropped"], cfg["forget"]["max_images"])
    assert metrics["n_forget_pairs"] == stats["kept"] > 0  # the evaluation's forget set is the curated one


def test_unlearned_checkpoint_and_delta(run):
    import torch

    from slug.io import load_tensor_dict
    from slug.clip.models import load_clip

    sel = json.loads((run / "results/elon_musk/selection.json").read_text())
    delta = load_tensor_dict(run / "results/elon_musk/unlearned/delta.pt")
    assert list(delta) == [sel["layer"]]
    base = load_clip("SLUG-Tiny-ViT", str(run / "results/models/tiny/checkpoint.pt")).model.state_dict()
    new = load_clip("SLUG-Tiny-ViT", str(run / "results/elon_musk/unlearned/checkpoint.pt")).model.state_dict()
    changed = [k for k in base if not torch.equal(base[k], new[k])]
    assert changed == [sel["layer"]]
    torch.testing.assert_close(new[sel["layer"]], base[sel["layer"]] + delta[sel["layer"]])
    rho = float(delta[sel["layer"]].norm() / base[sel["layer"]].norm())
    assert rho == pytest.approx(sel["rho"], rel=1e-4)
    # the manifest's one line of Python loads the unlearned model with open_clip, in a fresh interpreter
    manifest = json.loads((run / "results/elon_musk/unlearned/manifest.json").read_text())
    check = ("; import torch; from slug.io import load_tensor_dict; "
             "ref = load_tensor_dict('results/elon_musk/unlearned/checkpoint.pt'); sd = model.state_dict(); "
             "assert sorted(ref) == sorted(sd) and all(torch.equal(ref[k], sd[k]) for k in ref); print('same')")
    out = subprocess.run([sys.executable, "-c", manifest["load"] + check], cwd=run, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "same", out.stderr[-2000:]
    # the same model and delta as safetensors, the delta's header naming its base; the model card beside them
    from slug.export.formats import read_delta, tensors_sha256

    st = load_tensor_dict(run / "results/elon_musk/unlearned/model.safetensors")
    assert tensors_sha256(st) == tensors_sha256(new) == manifest["unlearned_sha256"]
    d_st, meta = read_delta(run / "results/elon_musk/unlearned/delta.safetensors")
    assert torch.equal(d_st[sel["layer"]], delta[sel["layer"]]) and meta["layer"] == sel["layer"]
    assert meta["rho"] == sel["rho"] and meta["base_sha256"] == tensors_sha256(base) == manifest["base_sha256"]
    card = (run / "results/elon_musk/unlearned/README.md").read_text()
    header = yaml.safe_load(card.split("---\n")[1])
    assert header["slug"]["layer"] == sel["layer"] and header["slug"]["base_sha256"] == manifest["base_sha256"]
    met = json.loads((run / "results/elon_musk/metrics.json").read_text())
    lo, hi = met["change_ci"]["retain_id_top1"]["ci"]
    assert f"({100 * lo:+.1f} to {100 * hi:+.1f})" in card and "model.safetensors" in card
    # the command line: the delta applies to the workflow's base and reproduces the checkpoint; list shows the concept
    slug = [sys.executable, "-m", "slug.cli"]
    out = subprocess.run([*slug, "apply", "results/elon_musk/unlearned/delta.safetensors", "--out", "again.pt"],
                         cwd=run, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    again = load_tensor_dict(run / "again.pt")
    assert tensors_sha256(again) == manifest["unlearned_sha256"]
    (run / "again.pt").unlink()
    out = subprocess.run([*slug, "list", "--tsv"], cwd=run, capture_output=True, text=True)
    rows = {r.split("\t")[0]: r.split("\t") for r in out.stdout.splitlines()}
    head = rows["concept"]
    assert rows["elon_musk"][head.index("status")] == "reported" and rows["elon_musk"][head.index("card")] == "yes"


def test_report_is_self_contained(run):
    html = (run / "results/elon_musk/report.html").read_text()
    assert "Unlearning “Elon Musk” with SLUG" in html
    assert html.count("data:image/png;base64,") >= 4
    assert not re.search(r"""(src|href)=["']https?://""", html)
    for section in ("Before and after", "Layer ranking", "Step-size search", "Time of each stage", "Provenance"):
        assert section in html
    ci = json.loads((run / "results/elon_musk/metrics.json").read_text())["change_ci"]["objects_top1"]["ci"]
    assert f"{100 * ci[0]:+.1f} pt to {100 * ci[1]:+.1f} pt" in html  # the object change's interval is shown
    layers = (run / "results/elon_musk/layers.tsv").read_text().splitlines()
    assert layers[0].split("\t")[:5] == ["layer", "tower", "importance", "alignment", "param_norm"]


def test_second_concept_reuses_model_shards_and_retain_gradient(run):
    jobs = jobs_of(smk(run, "-n", "results/jeff_bezos/report.html").stdout)
    assert jobs.get("forget_gradient") == 1 and jobs.get("search_step") == 1
    for shared in ("world", "download_shards", "pretrain", "retain_gradient", "zeroshot"):
        assert shared not in jobs


def test_batch_target_reuses_the_retain_gradient_and_nothing_is_stale(run):
    assert "Nothing to be done" in smk(run, "-n", "results/elon_musk/report.html").stdout
    jobs = jobs_of(smk(run, "-n", "all").stdout)
    assert jobs.get("report") == 1 and "retain_gradient" not in jobs  # elon is done; jeff still to do


def test_changing_a_search_parameter_reruns_only_the_search_and_what_follows(run):
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["search"]["max_iter"] = 5
    alt = run / "alt.yaml"
    alt.write_text(yaml.safe_dump(cfg))
    jobs = jobs_of(smk(run, "-n", "results/elon_musk/report.html", "--configfile", str(alt)).stdout)
    assert set(jobs) == {"search_step", "unlearn", "evaluate", "model_card", "report"}


def test_download_worker_settings_do_not_redownload_the_shards(run):
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["download"].update(processes=3, threads=2, timeout=30, max_failure_rate=0.2)  # how, not what
    alt = run / "alt_download.yaml"
    alt.write_text(yaml.safe_dump(cfg))
    jobs = jobs_of(smk(run, "-n", "results/elon_musk/report.html", "--configfile", str(alt)).stdout)
    assert "download_shards" not in jobs and set(jobs) == {"report"}  # the report shows the config
    cfg["download"]["image_size"] += 8  # what: different shards
    alt.write_text(yaml.safe_dump(cfg))
    assert "download_shards" in jobs_of(smk(run, "-n", "results/elon_musk/report.html", "--configfile", str(alt)).stdout)


def test_editing_the_bundled_architecture_retrains_the_model(tmp_path):
    """In a copy of the workflow and its library (no test edits a tracked file): the bundled architecture's
    JSON is an input of pretraining, so editing it reruns pretraining and what follows, not the world or
    the download. The copy's Snakefile puts its own slug/ first on sys.path, so its JSON is the one read."""
    import shutil

    repo = tmp_path / "repo"
    repo.mkdir()
    keep = ("Snakefile", "rules", "workflow_scripts", "slug", "configs", "environment.yml", "profiles")
    for name in keep:
        (shutil.copytree if (REPO / name).is_dir() else shutil.copy2)(
            REPO / name, repo / name, **({"ignore": shutil.ignore_patterns("__pycache__")} if (REPO / name).is_dir()
                                        else {}))
    work = tmp_path / "wf"
    work.mkdir()
    cfg = yaml.safe_load((REPO / "tests/configs/tiny.yaml").read_text())
    cfg["pretrain"]["epochs"] = 1  # the DAG is under test, not the model: a smaller world, one epoch
    cfg["world"].update(n_pairs=300, celeba_per_identity=4, imagenet_per_class=2, nonmember_pairs=10)
    cfg["download"]["samples_per_shard"] = 150
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    copy = [sys.executable, "-m", "snakemake", "--snakefile", str(repo / "Snakefile"), "--directory", str(work)]

    def snakemake(*args):
        proc = subprocess.run([*copy, *args], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return proc.stdout

    snakemake("results/models/tiny/checkpoint.pt", "--cores", "2")
    # the jobs ran the copy's library: Snakemake hands the workflow's own folder to every job (as it does
    # under --use-conda, whose environment.yml installs the packages and not slug itself)
    assert f"slug library: {(repo / 'slug').resolve()}" in (work / "results/logs/pretrain/tiny.log").read_text()
    assert "pretrain" not in jobs_of(snakemake("-n", "results/elon_musk/report.html"))
    arch = repo / "slug" / "model_configs" / "SLUG-Tiny-ViT.json"
    arch.write_bytes(arch.read_bytes().rstrip() + b"\n\n")  # an edit (Snakemake compares small inputs' checksums)
    jobs = jobs_of(snakemake("-n", "results/elon_musk/report.html"))
    assert jobs.get("pretrain") == 1 and jobs.get("retain_gradient") == 1 and jobs.get("report") == 1
    assert "world" not in jobs and "download_shards" not in jobs


def test_concept_without_matches_fails_clearly_and_leaves_nothing(run):
    proc = smk(run, "results/nobody_here/forget.tar", "--cores", "1", check=False)
    assert proc.returncode != 0
    log = (run / "results/logs/nobody_here/curate_forget_set.log").read_text()
    assert "concept 'nobody_here': 0 forget pairs found" in log and "Nobody Here" in log
    assert not (run / "results/nobody_here/forget.tar").exists()
    assert not (run / "results/nobody_here/forget_stats.json").exists()


def test_lint_is_clean_and_the_paper_config_builds_its_dag(tmp_path):
    lint = smk(REPO, "--lint", check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    for paper in ("paper-vit-b-32.yaml", "paper-sd15.yaml", "paper-sd21.yaml"):
        lint = smk(tmp_path, "--lint", "--configfile", str(REPO / "configs" / paper), check=False)
        assert lint.returncode == 0 and "Lints for" not in lint.stdout + lint.stderr, (paper, lint.stdout + lint.stderr)
    dry = smk(tmp_path, "-n", "--configfile", str(REPO / "configs" / "paper-vit-b-32.yaml"))
    jobs = jobs_of(dry.stdout)
    assert jobs["retain_gradient"] == 1 and jobs["forget_gradient"] == 8 and "pretrain" not in jobs
    assert jobs["fetch_pretrained"] == 1  # the published weights are downloaded once, into a file every job loads
    retain = dry.stdout[dry.stdout.index("rule retain_gradient:"):]
    assert "results/models/ViT-B-32-quickgelu_laion400m_e32/checkpoint.pt" in retain.split("output:")[0]
    assert "laion_metadata" in jobs and "world" not in jobs


def test_a_missing_access_restricted_file_stops_with_instructions_and_keeps_the_ones_in_place(tmp_path):
    paper = ["--configfile", str(REPO / "configs" / "paper-vit-b-32.yaml")]
    placed = tmp_path / "data/celeba/list_identity_celeba.txt"  # put in place by hand
    placed.parent.mkdir(parents=True)
    placed.write_text("header\nimage_id identity_name\n000001.jpg Elon_Musk\n")
    jobs = jobs_of(smk(tmp_path, "-n", *paper).stdout)
    assert {r: n for r, n in jobs.items() if r.startswith("external_dataset")} == {
        "external_dataset_1": 1, "external_dataset_2": 1,  # ImageNet's synset mapping and the CC3M shard
        "external_dataset_3": 1, "external_dataset_4": 1}  # the character folders and UnlearnCanvas
    proc = smk(tmp_path, "--cores", "1", *paper, "--", "data/ImageNet/LOC_synset_mapping.txt", check=False)
    assert proc.returncode != 0
    log = (tmp_path / "results/logs/external_dataset/1.log").read_text()
    assert "must be provided by hand" in log and "LOC_synset_mapping.txt under data/ImageNet/" in log
    assert placed.read_text().endswith("Elon_Musk\n")  # a rule with all three outputs deleted it before running


def test_ill_formed_concept_target_is_refused_with_the_fix(run):
    proc = smk(run, "results/Elon Musk/report.html", "--cores", "1", check=False)
    assert proc.returncode != 0
    log = (run / "results/logs/rejected/Elon Musk.log").read_text()
    assert "ill-formed concept name 'Elon Musk'" in log and "e.g. 'elon_musk'" in log
    assert not (run / "results/Elon Musk/report.html").exists()
    proc = smk(run, "results/models/report.html", "--cores", "1", check=False)  # a folder of the workflow's own
    assert proc.returncode != 0 and not (run / "results/models/report.html").exists()
    assert "concept name 'models' is reserved" in (run / "results/logs/rejected/models.log").read_text()


def test_one_and_two_threads_per_job_make_the_same_choice_and_metrics(run, tmp_path):
    """Another thread count changes the order of float sums, so the bits of every model after training;
    the search decides on counts of images, so the layer, the step and the metrics stay the same."""
    import shutil

    work = tmp_path / "one_thread"
    shutil.copytree(run, work, symlinks=True)
    shutil.rmtree(work / "results")  # the world and the shards stay: they are written by code without threads
    smk(work, "results/elon_musk/report.html", "--cores", "1")  # every job gets min(threads, cores) = 1 thread
    two, one = (json.loads((w / "results/elon_musk/selection.json").read_text()) for w in (run, work))
    assert (one["layer"], one["rho"], one["n_meeting_criterion"]) == (two["layer"], two["rho"], two["n_meeting_criterion"])
    assert one["layers_searched"] == two["layers_searched"]

    def numbers(d, prefix=""):
        out = {}
        for k, v in d.items():
            if isinstance(v, dict):
                out.update(numbers(v, f"{prefix}{k}."))
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                out[prefix + k] = v
        return out

    m1, m2 = (numbers(json.loads((w / "results/elon_musk/metrics.json").read_text())) for w in (work, run))
    assert m1.keys() == m2.keys() and len(m1) > 20
    # every accuracy is a count of images: equal to 1e-6; the MIA figures are a logistic regression on
    # continuous cosines (SECURITY.md: on the demo world one moved by 0.02 pt), allowed two members' worth
    tol = {k: (200.0 / m1["n_forget_pairs"] if "mia" in k else 1e-6) for k in m1}
    assert all(abs(m1[k] - m2[k]) <= tol[k] for k in m1), {k: (m1[k], m2[k]) for k in m1 if abs(m1[k] - m2[k]) > 1e-6}
    s1, s2 = (numbers(json.loads((w / "results/elon_musk/selection.json").read_text())) for w in (work, run))
    assert max(abs(s1[k] - s2[k]) for k in s1 if k.startswith("metrics_search")) <= 1e-6


def test_snakemake_report_collects_the_flagged_outputs_with_their_captions(run, tmp_path):
    import zipfile

    smk(run, "results/elon_musk/report.html", "--report", str(tmp_path / "report.zip"))
    with zipfile.ZipFile(tmp_path / "report.zip") as z:
        names = z.namelist()
        page = z.read("report/report.html").decode()
    files = sorted(n.rsplit("/", 1)[-1] for n in names if "/data/raw/" in n)
    assert files == ["cosine_matrix.png", "pareto_text.png", "pareto_vision.png", "report.html"], names
    for text in ("Layer ranking", "Concept reports", "holds the layers the step search tries", "elon_musk"):
        assert text in page, text
