"""Rule fetch_pretrained's library side: a published tag is downloaded (here from a file:// URL, through
open_clip's own downloader) into a state dict, and tags that would load differently are refused."""
import open_clip
import pytest
import torch
from open_clip.pretrained import _PRETRAINED, _pcfg

from slug.clip.models import fetch_pretrained, load_clip, save_state_dict

TINY = "SLUG-Tiny-ViT"


@pytest.fixture
def published(tiny_clip, tmp_path):
    """Registers tags of the tiny architecture whose URL is a local file, as open_clip's registry holds them."""
    weights = tmp_path / "published" / "tiny-weights.pt"
    weights.parent.mkdir()
    save_state_dict(tiny_clip.model, weights)
    url = weights.as_uri()
    tags = {"web": _pcfg(url=url), "web_qg": _pcfg(url=url, quick_gelu=True),
            "web_siglip_norm": _pcfg(url=url, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))}
    _PRETRAINED[TINY] = tags
    try:
        yield tiny_clip.model.state_dict()
    finally:
        _PRETRAINED.pop(TINY, None)


def test_a_tag_is_downloaded_into_the_state_dict_that_loads_as_the_tagged_model(published, tmp_path):
    cache = tmp_path / "cache"
    state, source = fetch_pretrained(TINY, "web", str(cache))
    assert (cache / "tiny-weights.pt").is_file()  # open_clip's downloader copied it into the cache
    assert source["url"].startswith("file://") and source["tag"] == "web"
    assert source["preprocess"]["interpolation"] == "bicubic"
    assert set(state) == set(published) and all(torch.equal(state[k], published[k]) for k in state)
    out = tmp_path / "checkpoint.pt"
    save_state_dict(state, out)
    reloaded = load_clip(TINY, str(out)).model.state_dict()  # how every later stage loads it
    tagged = open_clip.create_model(TINY, pretrained="web", cache_dir=str(cache)).state_dict()
    assert all(torch.equal(reloaded[k], tagged[k]) for k in tagged)


def test_a_tag_trained_with_quickgelu_on_an_architecture_without_it_is_refused_with_the_fix(published, tmp_path):
    with pytest.raises(ValueError, match="quick_gelu=True.*set model.arch to 'SLUG-Tiny-ViT-quickgelu'"):
        fetch_pretrained(TINY, "web_qg", str(tmp_path))
    assert not (tmp_path / "tiny-weights.pt").exists()  # refused before downloading


def test_a_tag_with_its_own_preprocessing_is_loaded_with_it_by_every_job(published, tmp_path):
    from slug.io import write_json
    from slug.clip.models import load_model

    cache = tmp_path / "cache"
    state, source = fetch_pretrained(TINY, "web_siglip_norm", str(cache))
    assert source["preprocess"]["mean"] == (0.5, 0.5, 0.5) and source["preprocess"]["resize_mode"] == "shortest"
    ckpt, src = tmp_path / "checkpoint.pt", tmp_path / "source.json"
    save_state_dict(state, ckpt)
    write_json(src, source)  # as rule fetch_pretrained writes them; JSON turns the tuples into lists
    params = {"arch": TINY, "pretrained": str(ckpt), "source": str(src)}  # what the rules pass
    job = load_model(params)
    _, _, tagged = open_clip.create_model_and_transforms(TINY, pretrained="web_siglip_norm", cache_dir=str(cache))
    assert repr(job.preprocess_val) == repr(tagged) and "mean=(0.5, 0.5, 0.5)" in repr(job.preprocess_val)
    assert "mean=(0.5, 0.5, 0.5)" not in repr(load_clip(TINY, str(ckpt)).preprocess_val)  # the architecture's own
    unlearned = load_model(params, pretrained=str(ckpt))  # evaluate's "after" model: the same preprocessing
    assert repr(unlearned.preprocess_val) == repr(tagged)


def test_an_unknown_tag_names_the_architectures_tags(published, tmp_path):
    with pytest.raises(ValueError, match="'laion9000' is not a published open_clip tag.*web_qg"):
        fetch_pretrained(TINY, "laion9000", str(tmp_path))
    with pytest.raises(ValueError, match="is not a published open_clip tag of 'ViT-B-32-quickgelu'.*laion400m_e32"):
        fetch_pretrained("ViT-B-32-quickgelu", "laion9000", str(tmp_path))


def test_openai_weights_on_the_gelu_vit_b_32_are_refused_before_any_download(tmp_path):
    # open_clip itself only warns: every activation of the loaded model would be wrong
    with pytest.raises(ValueError, match="'openai' were trained with quick_gelu=True.*'ViT-B-32-quickgelu'"):
        fetch_pretrained("ViT-B-32", "openai", str(tmp_path))
    assert not any(tmp_path.iterdir())


def test_a_source_json_from_an_older_fetch_asks_for_a_rerun(tmp_path, tiny_clip):
    from slug.io import write_json
    from slug.clip.models import load_model

    ckpt, src = tmp_path / "checkpoint.pt", tmp_path / "source.json"
    save_state_dict(tiny_clip.model, ckpt)
    write_json(src, {"tag": "web", "preprocess": "Compose(...)"})  # the first version wrote the transform's repr
    with pytest.raises(ValueError, match="older fetch_pretrained.*--forcerun fetch_pretrained"):
        load_model({"arch": TINY, "pretrained": str(ckpt), "source": str(src)})
