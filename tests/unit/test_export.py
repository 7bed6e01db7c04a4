"""Unlearned models in the formats users load: safetensors with provenance, the text encoder as a Hugging
Face folder, the `slug` command line, model cards."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
import yaml

from conftest import REPO, TINY_ARCH
from slug import diffusion as D
from slug.clip import hf as hf_clip
from slug.cli import main as cli
from slug.export.formats import BaseMismatch, check_base, read_delta, save_safetensors, tensors_sha256
from slug.io import atomic_torch_save, load_tensor_dict

LAYER = "transformer.resblocks.0.attn.out_proj.weight"
SELECTION = {"concept": "elon_musk", "display_name": "Elon Musk", "kind": "person", "layer": LAYER,
             "lambda": 0.5, "rho": 0.1}


def test_checksums_are_of_values_not_of_the_container(tmp_path):
    g = torch.Generator().manual_seed(0)
    shared = torch.randn(4, 3, generator=g)
    state = {"a": shared, "b": shared, "c": torch.randn(5, generator=g).half()}  # two names, one storage
    atomic_torch_save(state, tmp_path / "s.pt")
    save_safetensors(tmp_path / "s.safetensors", state, {"what": {"nested": 1}, "name": "1984"})
    pt, st = load_tensor_dict(tmp_path / "s.pt"), load_tensor_dict(tmp_path / "s.safetensors")
    assert tensors_sha256(pt) == tensors_sha256(st) == tensors_sha256(state)
    changed = dict(state, c=state["c"].clone())
    changed["c"][0] += 1
    assert tensors_sha256(changed) != tensors_sha256(state)
    assert tensors_sha256(state, ["a"]) == tensors_sha256({"a": shared.clone()})
    # float16 weights and the same weights loaded upcast to float32 are the same base
    assert tensors_sha256({"c": state["c"]}) == tensors_sha256({"c": state["c"].float()})
    assert tensors_sha256({"a": shared}) != tensors_sha256({"a": shared.half()})  # rounded values differ
    from slug.export.formats import decode_metadata, read_safetensors

    assert decode_metadata(read_safetensors(tmp_path / "s.safetensors")[1]) == {"what": {"nested": 1}, "name": "1984"}
    with pytest.raises(ValueError, match="not a SLUG delta"):
        read_delta(tmp_path / "s.safetensors")


def _tiny_base(tiny_clip, tmp_path):
    base = {k: v.detach().clone() for k, v in tiny_clip.model.state_dict().items()}
    path = tmp_path / "base.pt"
    atomic_torch_save(base, path)
    return base, path


def test_a_clip_delta_applies_to_its_base_only_and_open_clip_loads_the_result(tiny_clip, tmp_path, capsys):
    import open_clip

    from slug.export.clip import write_clip_delta

    base, base_path = _tiny_base(tiny_clip, tmp_path)
    delta = {LAYER: 0.01 * torch.randn(base[LAYER].shape, generator=torch.Generator().manual_seed(1))}
    write_clip_delta(tmp_path / "delta.safetensors", delta, base, {"arch": TINY_ARCH, "pretrained": str(base_path)},
                     SELECTION)
    _, meta = read_delta(tmp_path / "delta.safetensors")
    assert (meta["family"], meta["layer"], meta["lambda"], meta["kind"]) == ("open_clip", LAYER, 0.5, "person")
    assert meta["base_sha256"] == tensors_sha256(base) and meta["base_edited_tensors"] == [LAYER]
    # apply with the recorded base: what open_clip loads is the base plus the delta, every other tensor untouched
    out = tmp_path / "unlearned.safetensors"
    assert cli(["apply", str(tmp_path / "delta.safetensors"), "--out", str(out)]) == 0
    model, _, _ = open_clip.create_model_and_transforms(TINY_ARCH, pretrained=str(out))
    new = model.state_dict()
    assert [k for k in base if not torch.equal(base[k], new[k])] == [LAYER]
    assert torch.equal(new[LAYER], base[LAYER] + delta[LAYER])
    assert cli(["inspect", str(tmp_path / "delta.safetensors"), "--base"]) == 0
    assert "matches" in capsys.readouterr().out
    # another base (one value of the edited layer changed) is refused, and nothing is written
    other = dict(base, **{LAYER: base[LAYER].clone()})
    other[LAYER][0, 0] += 1e-3
    atomic_torch_save(other, tmp_path / "other.pt")
    with pytest.raises(BaseMismatch, match=f"not the model this delta was computed on: its {LAYER}"):
        check_base(meta, other)
    refused = tmp_path / "refused.safetensors"
    assert cli(["apply", str(tmp_path / "delta.safetensors"), "--base", str(tmp_path / "other.pt"),
                "--out", str(refused)]) == 2
    assert "refused" in capsys.readouterr().err and not refused.exists()
    assert cli(["apply", str(tmp_path / "delta.safetensors"), "--out", str(tmp_path / "x.bin")]) == 2
    assert "name the file .safetensors or .pt" in capsys.readouterr().err
    # an existing --out is never replaced without --force, and a folder that is not a model never
    mtime = out.stat().st_mtime_ns
    assert cli(["apply", str(tmp_path / "delta.safetensors"), "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err and out.stat().st_mtime_ns == mtime
    assert cli(["apply", str(tmp_path / "delta.safetensors"), "--out", str(out), "--force"]) == 0
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    assert cli(["apply", str(tmp_path / "delta.safetensors"), "--out", str(tmp_path / "mine"), "--force"]) == 2
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"
    # inspect: a results-like folder checks each delta against the base it records; a .pt cannot be checked
    (tmp_path / "c" / "unlearned").mkdir(parents=True)
    (tmp_path / "delta.safetensors").rename(tmp_path / "c" / "unlearned" / "delta.safetensors")
    capsys.readouterr()
    assert cli(["inspect", str(tmp_path / "c"), "--base"]) == 0
    shown = capsys.readouterr().out
    assert f"layer: {LAYER}" in shown and "lambda 0.5" in shown and meta["base_sha256"] in shown and "matches" in shown
    assert cli(["inspect", str(tmp_path / "c"), "--base", str(tmp_path / "other.pt")]) == 2
    assert cli(["inspect", str(base_path), "--base"]) == 2 and "carries no record" in capsys.readouterr().err
    assert cli(["inspect", str(out)]) == 0 and "lambda: 0.5" in capsys.readouterr().out


def test_the_console_script_is_installed_with_the_package():
    from pathlib import Path

    exe = Path(sys.executable).parent / "slug"  # make's venv installs the package with its console script
    assert exe.exists(), f"no {exe}: reinstall the package (make install)"
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and all(c in out.stdout for c in ("apply", "inspect", "list"))
    assert 'slug = "slug.cli:main"' in (REPO / "pyproject.toml").read_text()


def _pipe(tiny_clip):
    torch.manual_seed(0)
    enc = hf_clip.convert_text_tower(tiny_clip.model)
    unet = D.demo_unet(enc.config.hidden_size, sample_size=16, channels=(8, 16))
    return D.make_pipeline(unet, enc, hf_clip.clip_tokenizer(int(tiny_clip.model.positional_embedding.shape[0])),
                           D.sample_scheduler(D.train_scheduler()))


def test_the_sd_export_loads_as_a_user_loads_it_and_reproduces_the_generations_bit_for_bit(tiny_clip, tmp_path):
    from diffusers import StableDiffusionPipeline
    from transformers import CLIPTextModel

    from slug.export.diffusion import export_pipeline, export_text_encoder, text_encoder_delta

    pipe = _pipe(tiny_clip)
    name = "transformer.resblocks.0.attn.in_proj_weight"
    w = tiny_clip.model.state_dict()[name]
    edit = {name: 0.5 * w.std() * torch.randn(w.shape, generator=torch.Generator().manual_seed(2))}
    prompts = ["Elon Musk", "a photo of Elon Musk", "Jeff Bezos", "a cup"]
    noise = D.fixed_noise(pipe, len(prompts), seed=5)
    export_pipeline(pipe, tmp_path / "base")  # the original pipeline, as the demo's sd_base_pipeline rule writes it
    sums = export_text_encoder(pipe.text_encoder, edit, tmp_path / "text_encoder")
    meta = text_encoder_delta(pipe.text_encoder, edit, tmp_path / "delta.safetensors",
                              SELECTION | {"layer": name}, {"pipeline": str(tmp_path / "base")})
    assert sums["base"] == meta["base_edited_sha256"] != sums["edited"]
    assert sorted(t.removeprefix("text_model.") for t in meta["base_edited_tensors"]) == sorted(
        f"encoder.layers.0.self_attn.{p}_proj.weight" for p in "qkv") and meta["dtype"] == "float32"
    assert json.loads((tmp_path / "text_encoder" / "slug.json").read_text())["edited_sha256"] == sums["edited"]
    before = D.generate(pipe, prompts, noise, steps=3)
    hf_clip.apply_text_edit(pipe, edit)  # the evaluation's path: the edit added in memory
    evaluated = D.generate(pipe, prompts, noise, steps=3)
    assert not torch.equal(evaluated, before)
    # the user's path: two from_pretrained calls, no slug code until sampling
    user = StableDiffusionPipeline.from_pretrained(
        tmp_path / "base", text_encoder=CLIPTextModel.from_pretrained(tmp_path / "text_encoder"), safety_checker=None)
    user.set_progress_bar_config(disable=True)
    assert torch.equal(D.generate(user, prompts, noise, steps=3), evaluated)
    # `slug apply` of the delta onto the base pipeline writes the same text encoder
    assert cli(["apply", str(tmp_path / "delta.safetensors"), "--out", str(tmp_path / "applied")]) == 0
    a = CLIPTextModel.from_pretrained(tmp_path / "applied").state_dict()
    e = CLIPTextModel.from_pretrained(tmp_path / "text_encoder").state_dict()
    assert sorted(a) == sorted(e) and all(torch.equal(a[k], e[k]) for k in a)
    # a text-encoder folder that is not the base is refused; a text encoder is a folder, never a file
    assert cli(["apply", str(tmp_path / "delta.safetensors"), "--base", str(tmp_path / "text_encoder"),
                "--out", str(tmp_path / "twice")]) == 2
    assert not (tmp_path / "twice").exists()
    assert cli(["apply", str(tmp_path / "delta.safetensors"), "--out", str(tmp_path / "te.safetensors")]) == 2


def test_a_model_card_has_a_parseable_header_the_metrics_and_says_when_the_criterion_was_not_met():
    from slug.export.card import clip_card

    manifest = {"base_model": {"arch": TINY_ARCH, "pretrained": "results/models/tiny/checkpoint.pt"},
                "base_sha256": "ab" * 32, "base_layer_sha256": "cd" * 32,
                "load": "import open_clip; model, _, preprocess = open_clip.create_model_and_transforms('x', "
                        "pretrained='results/c/unlearned/checkpoint.pt')"}
    before = {"forget_top1": 0.9, "forget_top5": 1.0, "retain_id_top1": 0.8, "objects_top1": 0.7, "mia_mean": 60.0}
    after = {"forget_top1": 0.1, "forget_top5": 0.2, "retain_id_top1": 0.78, "objects_top1": 0.69, "mia_mean": 70.0}
    metrics = {"display_name": "Mickey | Mouse", "kind": "character", "before": before, "after": after,
               "change_ci": {"retain_id_top1": {"ci": [-0.03, -0.01]}}, "n_images": {"identities": 10}}
    sel = dict(SELECTION, criterion="forget_top5 <= 0", criterion_met=False, selection_rule="max retain")
    card = clip_card("mickey_mouse", manifest, sel, metrics, {"kept": 12, "rule": "a|b", "shards_scanned": ["x"]},
                     {"shards": ["data/laion/00000.tar"]}, {"model.safetensors": "ef" * 32}, "results/x/report.html",
                     demo=True)
    head, body = card.split("---\n")[1], card.split("---\n", 2)[2]
    meta = yaml.safe_load(head)
    assert meta["library_name"] == "open_clip" and meta["slug"]["kind"] == "character"
    assert meta["slug"]["criterion_met"] is False and meta["slug"]["base_sha256"] == "ab" * 32
    assert "was NOT met" in body and "**NOT met**" in body
    assert "| Retain identities @1 (every other identity) | 80.0% | 78.0% | -2.0 pt (-3.0 to -1.0) |" in body
    assert "Mickey \\| Mouse" in body  # a pipe in a name cannot break the table
    assert "model.safetensors" in body and "demo world" in body and "Not measured yet" in body
    assert json.dumps(meta)  # plain YAML types only
