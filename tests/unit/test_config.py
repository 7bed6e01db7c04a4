"""Configs validate against the schema; bad values get errors naming the key and what is allowed."""
import copy

import pytest

from slug.config import ConfigError, load_yaml, validate_config
from conftest import REPO



@pytest.fixture
def demo():
    return load_yaml(REPO / "config.yaml")

def test_shipped_configs_validate_and_get_defaults(demo):
    cfg = validate_config(demo)
    assert cfg["search"]["criterion"] == {"metric": "forget_top5", "max": 0.0}
    assert cfg["forget"]["min_images"] == 1  # a default filled in from the schema
    for name in ("paper-vit-b-32.yaml",):
        paper = validate_config(load_yaml(REPO / "configs" / name))
        assert "world" not in paper and paper["model"]["pretrained"] == "laion400m_e32"


@pytest.mark.parametrize("path,value,expected", [
    (("search", "max_iter"), 0, r"config key 'search.max_iter': 0 is less than the minimum of 1 \(allowed: >= 1"),
    (("search", "criterion", "metric"), "forget_top3",
     r"'search.criterion.metric'.*allowed: one of \['forget_top1', 'forget_top5'\]"),
    (("seed",), "zero", r"config key 'seed': 'zero' is not of type 'integer'"),
    (("forget", "max_images"), -5, r"'forget.max_images'"),
])
def test_bad_values_name_the_key_and_the_allowed_range(demo, path, value, expected):
    bad = copy.deepcopy(demo)
    node = bad
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    with pytest.raises(ConfigError, match=expected):
        validate_config(bad)


def test_unknown_key_and_bad_concept_id_are_refused(demo):
    bad = copy.deepcopy(demo)
    bad["serach"] = {}
    with pytest.raises(ConfigError, match="Additional properties are not allowed \\('serach' was unexpected\\)"):
        validate_config(bad)
    bad = copy.deepcopy(demo)
    bad["concepts"]["Elon Musk"] = {"name": "Elon Musk"}
    with pytest.raises(ConfigError, match="config key 'concepts'"):
        validate_config(bad)


def test_retain_shard_out_of_range_is_refused(demo):
    bad = copy.deepcopy(demo)
    bad["data"]["retain_shards"] = [7]
    with pytest.raises(ConfigError, match=r"data.retain_shards.*0 .. data.num_shards-1 = 2"):
        validate_config(bad)


def test_key_order_does_not_change_the_validated_config(demo):
    # Snakemake reruns a rule when its params change; a YAML with the same values in another order must not
    reordered = {k: (dict(reversed(list(v.items()))) if isinstance(v, dict) else v) for k, v in reversed(list(demo.items()))}
    a, b = validate_config(demo), validate_config(reordered)
    assert list(reordered) != list(demo) and a == b
    assert repr(a) == repr(b)  # the same order too, so str(params) and checksums agree


def test_forget_shard_out_of_range_is_refused(demo):
    bad = copy.deepcopy(demo)
    bad["data"]["forget_shards"] = [0, 5]
    with pytest.raises(ConfigError, match=r"data.forget_shards"):
        validate_config(bad)


def test_demo_world_paths_must_follow_the_layout_the_world_writes(demo):
    bad = copy.deepcopy(demo)
    bad["data"]["celeba_dir"] = "data/elsewhere/celeba"
    with pytest.raises(ConfigError, match=r"'data.celeba_dir': the demo world writes 'data/world/celeba'"):
        validate_config(bad)
    moved = copy.deepcopy(demo)
    for key in ("laion_parquet", "celeba_dir", "imagenet_dir", "characters_dir", "canvas_dir"):
        moved["data"][key] = moved["data"][key].replace("data/world", "data/w2")
    moved["data"]["nonmember_shards"] = ["data/w2/nonmember/00000.tar"]
    assert validate_config(moved)["data"]["celeba_dir"] == "data/w2/celeba"  # the whole world moved: fine
    stray = copy.deepcopy(demo)
    stray["data"]["canvas_dir"] = "data/elsewhere/canvas"
    with pytest.raises(ConfigError, match=r"'data.canvas_dir': the demo world writes 'data/world/canvas'"):
        validate_config(stray)
    unwritten = copy.deepcopy(demo)
    unwritten["world"]["n_characters"] = 0
    unwritten["world"]["character_fraction"] = 0
    with pytest.raises(ConfigError, match=r"'data.characters_dir' is set but world.n_characters is 0"):
        validate_config(unwritten)
    unwritten["data"]["characters_dir"] = None
    assert validate_config(unwritten)["data"]["characters_dir"] is None  # no characters task: fine


def test_a_world_path_written_with_a_leading_dot_slash_is_the_same_path(demo):
    ok = copy.deepcopy(demo)
    ok["data"]["laion_parquet"] = "./data/world/laion.parquet"
    validate_config(ok)


def test_a_concept_sheet_adds_its_rows_and_every_error_names_the_file_and_the_fix(demo, tmp_path):
    sheet = tmp_path / "concepts.tsv"
    sheet.write_text("id\tname\taliases\tkind\nsteamboat_willie\tSteamboat Willie\tWillie; the mouse\tcharacter\n"
                     "ada\tAda Lovelace\t\t\n")
    cfg = validate_config({**demo, "concept_sheet": str(sheet)})
    assert cfg["concepts"]["steamboat_willie"] == {"name": "Steamboat Willie", "aliases": ["Willie", "the mouse"],
                                               "kind": "character"}
    assert cfg["concepts"]["ada"]["kind"] == "person"  # an empty kind is a person
    assert cfg["concepts"]["ada"]["aliases"] == [] and set(demo["concepts"]) < set(cfg["concepts"])
    only = {k: v for k, v in demo.items() if k != "concepts"}  # a sheet may replace the mapping
    assert list(validate_config({**only, "concept_sheet": str(sheet)})["concepts"]) == ["ada", "steamboat_willie"]
    cases = [
        ("id\tname\nElon Musk\tElon Musk\n", r"'concepts'.*Elon Musk"),  # the schema's id pattern
        ("id\tname\nx\tX\nx\tY\n", r"concepts.tsv, line 3: the id 'x' appears twice"),
        ("id\tname\nx\t\n", r"concepts.tsv, line 2: id and name must both be given"),
        ("ident\tname\nx\tX\n", r"columns must be id, name and optionally aliases.*missing \['id'\], unknown \['ident'\]"),
        ("id\tname\tkind\nx\tX\tpainter\n", r"concepts.tsv, line 2: unknown kind 'painter' for 'x'; use one of person"),
        (f"id\tname\n{next(iter(demo['concepts']))}\tSomeone\n", r"both in `concepts:` and in the concept sheet"),
    ]
    for text, match in cases:
        sheet.write_text(text)
        with pytest.raises(ConfigError, match=match):
            validate_config({**demo, "concept_sheet": str(sheet)})
    with pytest.raises(ConfigError, match=r"config key 'concept_sheet': no file .*nowhere.tsv"):
        validate_config({**demo, "concept_sheet": str(tmp_path / "nowhere.tsv")})


def test_an_unknown_baseline_is_refused_with_the_registry(demo):
    with pytest.raises(ConfigError, match=r"baselines.methods.*\['rl'\].*ft, ga, gaft, salun, ssd"):
        validate_config({**demo, "baselines": {"methods": ["ga", "rl"]}})
