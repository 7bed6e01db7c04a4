"""A real Snakemake run on a tiny world with characters and styles: a character and a style are unlearned
end to end (curation by kind, gradients, ranking, search, checkpoint, evaluation, report)."""
from __future__ import annotations

import json

import pytest
import yaml

from conftest import REPO, smk

pytestmark = pytest.mark.slow

CONCEPTS = {"mickey_mouse": ("Mickey Mouse", "character", "characters"), "van_gogh": ("Van Gogh", "style", "styles")}


@pytest.fixture(scope="module")
def kinds_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("kinds")
    cfg = yaml.safe_load((REPO / "tests" / "configs" / "tiny.yaml").read_text())
    cfg["world"].update(n_characters=4, character_fraction=0.15, characters_per_character=8, n_styles=4,
                        style_fraction=0.3, canvas_objects=3, canvas_per_object=4)
    cfg["data"].update(characters_dir="data/world/characters", canvas_dir="data/world/canvas")
    cfg["concepts"] = {c: {"name": n, "kind": k} for c, (n, k, _) in CONCEPTS.items()}
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    smk(work, *(f"results/{c}/report.html" for c in CONCEPTS), "--cores", "2")
    return work, cfg


@pytest.mark.parametrize("concept", list(CONCEPTS))
def test_a_character_and_a_style_are_unlearned_within_their_own_task(kinds_run, concept):
    work, cfg = kinds_run
    name, kind, task = CONCEPTS[concept]
    stats = json.loads((work / f"results/{concept}/forget_stats.json").read_text())
    assert stats["kind"] == kind and stats["kept"] > 0
    sel = json.loads((work / f"results/{concept}/selection.json").read_text())
    assert sel["kind"] == kind and sel["criterion_met"] and sel["metrics_search_split"]["forget_top1"] == 0.0
    n_classes = {"characters": 4 + cfg["world"]["n_identities"], "styles": 4}[task]
    assert sel["baseline_search_split"]["forget_top1"] > 1 / n_classes  # recognised before: above chance
    m = json.loads((work / f"results/{concept}/metrics.json").read_text())
    assert m["kind"] == kind and m["target_task"] == task
    assert set(m["n_images"]) == {"identities", "objects", "characters", "styles"}
    assert m["after"]["forget_top1"] < m["before"]["forget_top1"]
    # every task's retain accuracy is reported with its interval; the target's class is left out of its own task
    for key in ("retain_id_top1", "objects_top1", "characters_top1", "styles_top1"):
        ci = m["change_ci"][key]
        assert ci["ci"][0] <= ci["change"] <= ci["ci"][1]
    assert m["change_ci"][f"{task}_top1"]["n_classes"] == {"characters": 3, "styles": 3}[task]
    assert m["cosine_names"][0] == name and len(m["cosine_names"]) == 4  # the concept and the others of its kind
    html = (work / f"results/{concept}/report.html").read_text()
    assert f"kind <b>{kind}</b>" in html and f"{task} task" in html and "Styles @1" in html
    zs = json.loads((work / "results/models/tiny/zeroshot.json").read_text())
    assert zs["n_characters"] == 4 and zs["n_styles"] == 4 and 0 < zs["characters_top1"] and 0 < zs["styles_top1"]


def test_the_world_writes_characters_and_the_canvas_layout(kinds_run):
    work, _ = kinds_run
    assert sorted(p.name for p in (work / "data/world/characters").iterdir() if p.is_dir()) == [
        "Iron_Man", "Maxie_Mouse", "Mickey_Mouse", "Steel_Sentinel"]
    canvas = work / "data/world/canvas"
    assert sorted(p.name for p in canvas.iterdir() if p.is_dir()) == [
        "Pencil_Drawing", "Pop_Art", "Seed_Images", "Ukiyoe", "Van_Gogh"]
    assert len(list(canvas.glob("Van_Gogh/*/*.jpg"))) == 3 * 4
