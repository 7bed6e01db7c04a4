"""Forget-set curation: whole words, spaces and underscores alike, deduplicated, capped."""
import io

import pytest
from PIL import Image

from slug.concepts import check_concept_id, concept_pattern, concept_terms, display_name
from slug.data.curation import curate, write_forget_tar
from slug.data import iter_shards
from slug.data import write_wds_shard


@pytest.mark.parametrize("caption,hit", [
    ("Elon Musk at the gala", True), ("photo of ELON MUSK", True), ("elon_musk wallpaper", True),
    ("Elon  Musk", True), ("(Elon Musk)", True), ("Elongated muskrat", False), ("Elon Musketeer", False),
    ("xElon Musk", False), ("Musk", False), ("Elon", False),
])
def test_whole_word_matching(caption, hit):
    assert bool(concept_pattern(["Elon Musk"]).search(caption)) is hit


def test_display_name_and_aliases_from_the_table():
    table = {"elon_musk": {"name": "Elon Musk", "aliases": ["Musk"]}}
    assert display_name("elon_musk", table) == "Elon Musk"
    assert display_name("mickey_mouse", table) == "Mickey Mouse"
    assert concept_terms("elon_musk", table) == ["Elon Musk", "Musk"]


@pytest.mark.parametrize("bad", ["Elon Musk", "elon-musk", "", "../etc", "ELON"])
def test_ill_formed_concept_ids_are_refused(bad):
    with pytest.raises(ValueError, match="ill-formed concept name"):
        check_concept_id(bad)


def test_the_workflows_own_result_folders_are_not_concepts():
    from slug.config import ConfigError, load_yaml, validate_config
    from slug.concepts import RESERVED_IDS

    from conftest import REPO

    for name in RESERVED_IDS:
        with pytest.raises(ValueError, match=f"concept name '{name}' is reserved"):
            check_concept_id(name)
        cfg = load_yaml(REPO / "config.yaml")
        cfg["concepts"][name] = {"name": "X"}
        with pytest.raises(ConfigError, match=f"config key 'concepts.{name}': the concept id '{name}' is reserved"):
            validate_config(cfg)
    cfg = load_yaml(REPO / "config.yaml")
    cfg["joint"] = {"pair": ["elon_musk", "logs"]}
    with pytest.raises(ConfigError, match="config key 'joint.pair': the concept id 'logs' is reserved"):
        validate_config(cfg)
    check_concept_id("models_of_the_year")  # only the whole name is reserved


def _jpg(colour):
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buf, format="JPEG")
    return buf.getvalue()


def test_curation_dedups_caps_and_keeps_provenance(tmp_path):
    shard = tmp_path / "00000.tar"
    samples = [("a", _jpg((255, 0, 0)), "Elon Musk on stage", {}), ("b", _jpg((255, 0, 0)), "Elon Musk again", {}),
               ("c", _jpg((0, 255, 0)), "Jeff Bezos", {}), ("d", _jpg((0, 0, 255)), "elon musk, 2020", {}),
               ("e", _jpg((9, 9, 9)), "portrait of Elon Musk", {})]
    write_wds_shard(shard, samples)
    res = curate([shard], ["Elon Musk"], max_images=2)
    assert res.stats() == {"shards_scanned": [str(shard)], "samples_scanned": 5, "matches": 4,
                           "duplicates_dropped": 1, "kept": 2}
    out = tmp_path / "forget.tar"
    write_forget_tar(res.samples, out)
    got = list(iter_shards([out]))
    assert [s.caption for s in got] == ["Elon Musk on stage", "elon musk, 2020"]
    assert got[0].meta["source_shard"] == "00000.tar" and got[0].meta["source_key"] == "a"


def test_no_match_yields_nothing(tiny_world):
    res = curate([tiny_world / "nonmember" / "00000.tar"], ["Nobody Atall"], max_images=10)
    assert res.samples == [] and res.scanned == 20
