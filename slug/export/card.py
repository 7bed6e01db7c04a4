"""Model cards: a ``README.md`` beside each unlearned model, in the Hugging Face model-card layout
(a YAML header, then Markdown) that states what was removed, from which base, at what cost, how it was
measured, what the measurement does not show, and how to load the result."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml
from jinja2 import Environment, StrictUndefined

from slug.concepts import KIND_TASKS, RETAIN_TOP1
from slug.report import METRIC_LABELS, SD_TASK_LABELS, TEMPLATES, _fmt_delta, _fmt_metric

ROBUSTNESS_NOT_MEASURED = (
    "Not measured yet. Every figure above uses the text forms the search optimised (the canonical templates) on "
    "held-out images of the same split family. Paraphrases, aliases, indirect references, adversarial prompts and "
    "relearning (whether the concept comes back after a few fine-tuning steps) are not tested by this version of "
    "slug-pipeline: do not read this card as a guarantee that the concept cannot be recovered.")


def _change(key: str, v: float, ci: Sequence[float] | None = None) -> str:
    """The report's change format, with the 95% interval where one was measured."""
    return _fmt_delta(key, v) + (f" ({100 * ci[0]:+.1f} to {100 * ci[1]:+.1f})" if ci else "")


def _header(meta: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(meta), sort_keys=False, allow_unicode=True).strip()


def _render(**ctx: Any) -> str:
    env = Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.filters["cell"] = lambda v: str(v).replace("|", "\\|").replace("\n", " ")  # a Markdown table cell
    return env.from_string((TEMPLATES / "model_card.md.j2").read_text()).render(**ctx)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("slug-pipeline")
    except Exception:  # a source checkout without the package installed
        return "(source checkout)"


def _limitations(kind: str, name: str, demo: bool, family: str) -> list[str]:
    out = [
        "Unlearning is measured, not proven: the figures are recognition rates under the evaluation's prompts and "
        "images; the concept may still be reachable under other wordings, images or attacks (see Robustness).",
        f"Only one layer changed. Everything the model knew that is entangled with {name} in that layer may have "
        "moved with it: the retain rows above bound that damage on the tasks measured, not on every use.",
        "The forget set is what the curation found: captions naming the concept (whole-word match of its names), "
        "with their images. Data the curation missed is not a target of the step.",
    ]
    if family == "diffusers":
        out.append("Only the text encoder is edited: the UNet still holds what it learned, so conditioning that "
                   "bypasses the edited tokens (an optimised embedding, an image prompt) may bring the concept back.")
    if demo:
        out.append("This model belongs to slug-pipeline's embedded demo world: small models trained on procedurally "
                   "drawn images. Its numbers show the pipeline working, not how SLUG performs on real models.")
    return out


def clip_card(concept: str, manifest: Mapping[str, Any], selection: Mapping[str, Any], metrics: Mapping[str, Any],
              forget_stats: Mapping[str, Any], retain: Mapping[str, Any], files: Mapping[str, str],
              report_path: str, demo: bool) -> str:
    """The card of a CLIP unlearned by SLUG (``results/{concept}/unlearned/README.md``).

    ``retain``: what the retain gradient was computed on (``shards``, ``max_samples``); ``files``: name ->
    sha256 of the files beside the card."""
    name, kind = metrics["display_name"], metrics.get("kind", "person")
    base = manifest["base_model"]
    b, a, ci = metrics["before"], metrics["after"], metrics.get("change_ci", {})
    rows = []
    for key, label in METRIC_LABELS.items():
        if key in b and key in a:
            rows.append({"label": label, "before": _fmt_metric(key, b[key]), "after": _fmt_metric(key, a[key]),
                         "change": _change(key, a[key] - b[key], (ci.get(key) or {}).get("ci"))})
    header = {
        "library_name": "open_clip",
        "pipeline_tag": "zero-shot-image-classification",
        "tags": ["clip", "machine-unlearning", "slug", "concept-erasure", f"unlearned-{kind}"],
        "slug": {"concept": concept, "display_name": name, "kind": kind, "method": "SLUG",
                 "base_arch": base["arch"], "base_pretrained": str(base.get("pretrained")),
                 "base_sha256": manifest.get("base_sha256"), "layer": selection["layer"],
                 "lambda": float(selection["lambda"]), "rho": float(selection["rho"]),
                 "criterion_met": bool(selection["criterion_met"])},
    }
    st = "safetensors" if "model.safetensors" in files else "pt"
    load = manifest["load"].replace("; ", "\n")
    if st == "safetensors":
        load = load.replace("checkpoint.pt", "model.safetensors")
    return _render(
        header=_header(header), title=f"{base['arch']} with {name} unlearned (SLUG)",
        summary=(f"An open_clip CLIP ({base['arch']}, weights `{base.get('pretrained')}`) from which the {kind} "
                 f"**{name}** was unlearned by SLUG: a single step on the one layer `{selection['layer']}`; every other "
                 "tensor is the base's, bit for bit."),
        status=("the search's forget criterion was met" if selection["criterion_met"]
                else "the search's forget criterion was NOT met"),
        name=name, concept=concept, kind=kind, layer=selection["layer"], lam=float(selection["lambda"]),
        rho=float(selection["rho"]), selection_rule=selection.get("selection_rule", "–"),
        criterion=selection.get("criterion", "–"), criterion_met=bool(selection["criterion_met"]),
        base_rows=[("Architecture", f"`{base['arch']}` (open_clip)"), ("Weights", f"`{base.get('pretrained')}`"),
                   ("Checksum of the base's tensor values", f"`{manifest.get('base_sha256', '–')}`"),
                   ("Checksum of the edited layer's values in the base", f"`{manifest.get('base_layer_sha256', '–')}`")],
        data_lines=[
            f"Forget set: {forget_stats.get('kept', '–')} image-text pairs whose captions name {name} "
            f"(`{forget_stats.get('rule', 'caption match')}`), from {forget_stats.get('samples_scanned', '–')} pairs "
            f"of {len(forget_stats.get('shards_scanned', []))} shard(s).",
            f"Retain set: the pairs of {', '.join(f'`{s}`' for s in retain.get('shards', [])) or '–'}"
            + (f" (at most {retain['max_samples']} pairs)" if retain.get("max_samples") else "") + ".",
            f"Evaluation: {metrics.get('split', 'held-out split')}; {metrics.get('n_target_images', '–')} images of "
            f"{name}; the {KIND_TASKS.get(kind, kind)} task and every other task as retain"
            + (" (" + ", ".join(f"{v} {k} images" for k, v in metrics["n_images"].items()) + ")"
               if isinstance(metrics.get("n_images"), dict) else "") + ".",
        ],
        eval_intro=(f"Zero-shot classification, each task among its own classes; {name} is one class of the "
                    f"{KIND_TASKS.get(kind, kind)} task. Forget = the share of the target's images with {name} "
                    "first (@1) or among the first five (@5); retain = every other class of every task. Intervals "
                    "(retain top-1): 95% paired bootstrap over the evaluation images. Membership inference: the "
                    "accuracy (%) of telling the forget pairs from non-members by their image-text cosine."),
        eval_rows=rows,
        eval_notes=[f"Retain tasks: {', '.join(v for k, v in RETAIN_TOP1.items() if k in b)}."],
        robustness=ROBUSTNESS_NOT_MEASURED,
        intended_use=(f"Research on machine unlearning and concept removal; a CLIP for uses that must not recognise "
                      f"{name}, after checking the evaluation and its limitations for that use. Not a certificate "
                      "of removal for legal purposes."),
        limitations=_limitations(kind, name, demo, "open_clip"),
        load_code=load,
        load_note=("Run from the workflow's directory. The single-layer delta alone (`delta.safetensors`) can be "
                   "applied to the base with `slug apply`, which checks the base first."),
        files=sorted(files.items()), version=_version(), report_path=report_path,
    )


def sd_card(concept: str, metrics: Mapping[str, Any], selection: Mapping[str, Any], base_pipeline: str,
            base_meta: Mapping[str, Any], files: Mapping[str, str], report_path: str, demo: bool,
            forget_stats: Mapping[str, Any] | None = None, cfg: Mapping[str, Any] | None = None) -> str:
    """The card of a Stable Diffusion text encoder unlearned by SLUG (``results/{concept}/sd/unlearned/README.md``).
    ``cfg``: the config's ``diffusion`` section (dtype, clip_skip: the load code repeats them)."""
    name, kind = metrics["display_name"], metrics.get("kind", "person")
    n = metrics["n_images"]
    pct = lambda v: _fmt_metric("rate", v)  # noqa: E731
    rows = [{"label": f"{name}: recognised in its generations ({n['target']} images; chance {pct(metrics['chance'])})",
             "before": pct(metrics["target_before"]), "after": pct(metrics["target_after"]),
             "change": _change("target", metrics["target_after"] - metrics["target_before"])}]
    for t in metrics.get("retain_tasks", []):
        rows.append({"label": f"{SD_TASK_LABELS.get(t, t)}, recognised in their generations",
                     "before": pct(metrics[f"{t}_before"]), "after": pct(metrics[f"{t}_after"]),
                     "change": _change(t, metrics[f"{t}_after"] - metrics[f"{t}_before"])})
    s = metrics["sampler"]
    header = {
        "library_name": "diffusers",
        "pipeline_tag": "text-to-image",
        **({"base_model": metrics["diffusion_model"]} if not demo and "/" in str(metrics["diffusion_model"]) else {}),
        "tags": ["stable-diffusion", "text-encoder", "machine-unlearning", "slug", "concept-erasure",
                 f"unlearned-{kind}"],
        "slug": {"concept": concept, "display_name": name, "kind": kind, "method": "SLUG",
                 "base_pipeline": base_pipeline, "base_text_encoder_edited_sha256": base_meta["base_edited_sha256"],
                 "layer": selection["layer"], "lambda": float(selection["lambda"]), "rho": float(selection["rho"]),
                 "criterion_met": bool(selection["criterion_met"])},
    }
    pipeline = ("the demo pipeline (a pixel-space UNet the workflow trained on the demo world, conditioned on the "
                "demo CLIP's text tower)" if demo else f"`{metrics['diffusion_model']}`")
    te = f"results/{concept}/sd/unlearned/text_encoder"
    cfg = cfg or {}
    fp16 = cfg.get("dtype") == "float16"
    skip = cfg.get("clip_skip")
    dt = ", torch_dtype=torch.float16" if fp16 else ""
    code = [*(["import torch"] if fp16 else []), "from diffusers import DDIMScheduler, StableDiffusionPipeline",
            "from transformers import CLIPTextModel", "",
            f"text_encoder = CLIPTextModel.from_pretrained({te!r}{dt})",
            f"pipe = StableDiffusionPipeline.from_pretrained({base_pipeline!r}, text_encoder=text_encoder, "
            f"safety_checker=None{dt})",
            "pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)  # the evaluation's sampler"]
    if demo:
        code += ["# the demo UNet draws in pixel space (its VAE is a placeholder): sample with slug's helper",
                 "from slug.diffusion import fixed_noise, generate",
                 f"images = generate(pipe, [{name!r}], fixed_noise(pipe, 1, seed={s['noise_seed']}), "
                 f"steps={s['steps']}, guidance={s['guidance']}{f', clip_skip={skip}' if skip else ''})"
                 "  # [1, 3, H, W] in [0, 1]"]
    else:
        code += [f"image = pipe({name!r}, num_inference_steps={s['steps']}, guidance_scale={s['guidance']}"
                 f"{f', clip_skip={skip}' if skip else ''}).images[0]"]
    fs = forget_stats or {}
    return _render(
        header=_header(header), title=f"Stable Diffusion text encoder with {name} unlearned (SLUG)",
        summary=(f"The CLIP text encoder of {pipeline} with the {kind} **{name}** unlearned by "
                 f"SLUG (one step on `{selection['layer']}`), in the Hugging Face format a "
                 "`StableDiffusionPipeline` takes as its `text_encoder`; the UNet, VAE, tokenizer and scheduler are "
                 "the base pipeline's."),
        status=("the search's generation criterion was met" if selection["criterion_met"]
                else "the search's generation criterion was NOT met (the closest trial was kept)"),
        name=name, concept=concept, kind=kind, layer=selection["layer"], lam=float(selection["lambda"]),
        rho=float(selection["rho"]), selection_rule=selection.get("selection_rule", "–"),
        criterion=selection.get("criterion_meaning", selection.get("criterion", "–")),
        criterion_met=bool(selection["criterion_met"]),
        base_rows=[("Pipeline", f"{pipeline} (`{base_pipeline}`)"),
                   ("Checksum of the edited text-encoder tensors' values in the base",
                    f"`{base_meta['base_edited_sha256']}`"),
                   ("Edited tensors (Hugging Face names)", ", ".join(f"`{t}`" for t in base_meta["base_edited_tensors"]))],
        data_lines=[f"Forget gradient: {fs.get('kept', 'the')} image-text pairs whose captions name {name} "
                    f"(the CLIP pipeline's forget set, from {fs.get('samples_scanned', '–')} pairs scanned; "
                    f"`results/{concept}/forget_stats.json`), on the pipeline's text encoder.",
                    f"Evaluation: {n['total_per_pass']} generations per pass ({n['target']} of {name}, "
                    f"{n['per_identity']} per other subject), the same noise before and after."],
        eval_intro=(f"Generations recognised by the original CLIP, each subject within its kind's task; {s['scheduler']}, "
                    f"{s['steps']} steps, guidance {s['guidance']}, {s['resolution']} px, noise seed {s['noise_seed']}."),
        eval_rows=rows,
        eval_notes=["No interval: rates over the images above; per-subject rates are in `sd_metrics.json`."],
        robustness=ROBUSTNESS_NOT_MEASURED,
        intended_use=(f"Research on concept erasure in text-to-image models; a text encoder for pipelines that must "
                      f"not draw {name} from its name, after checking the evaluation for that use."),
        limitations=_limitations(kind, name, demo, "diffusers"),
        load_code="\n".join(code),
        load_note="Run from the workflow's directory.",
        files=sorted(files.items()), version=_version(), report_path=report_path,
    )


def write_card(path: str | Path, text: str) -> None:
    from slug.io import atomic_write_text

    atomic_write_text(path, text)
