"""``slug``: the command line for unlearned models (installed with the package).

    slug apply DELTA [--base BASE] --out OUT   add a delta to its base model, after checking the base
    slug inspect PATH [--base BASE]            what a delta, an unlearned model or a results folder holds
    slug list [RESULTS]                        the concepts of a results folder with their status

Exit status: 0 done; 2 refused (bad input, or a base that is not the delta's); the message names the
input and the fix. Nothing is written unless the whole command succeeds.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from slug.export.formats import BaseMismatch

REFUSED = 2


class Refused(Exception):
    """A command that cannot be carried out as asked (the message says why and what to do)."""


# ------------------------------------------------------------------------------------------
# bases
# ------------------------------------------------------------------------------------------


def _text_encoder_dir(base: Path) -> Path:
    if (base / "text_encoder" / "config.json").is_file():
        return base / "text_encoder"
    if (base / "config.json").is_file():
        return base
    raise Refused(f"{base}: neither a diffusers pipeline folder (with text_encoder/) nor a Hugging Face text-encoder "
                  "folder (with config.json); pass --base the pipeline the delta was computed on")


def _hf_params(encoder) -> dict:
    return dict(encoder.named_parameters())


def _hf_name(params: dict, name: str) -> str:
    """A delta's text-encoder name in this transformers version's naming (with or without ``text_model.``)."""
    for cand in (name, f"text_model.{name}", name.removeprefix("text_model.")):
        if cand in params:
            return cand
    return name


def _load_base(meta: dict[str, Any], base: str | None):
    """The base model of a delta, as (kind, object, named tensors). ``base`` overrides the delta's record."""
    family = meta["family"]
    bm = meta.get("base_model") or {}
    if family == "open_clip":
        from slug.clip.models import load_weights

        where = base or bm.get("pretrained")
        if not where:
            raise Refused("the delta does not name its base's weights: pass --base (an open_clip checkpoint or tag)")
        try:
            state = load_weights(bm["arch"], where)
        except FileNotFoundError as e:
            raise Refused(f"base {where}: {e}; pass --base the checkpoint the delta was computed on") from None
        return "open_clip", state, state, where
    if family == "diffusers-text-encoder":
        from transformers import CLIPTextModel

        where = base or bm.get("pipeline")
        if not where:
            raise Refused("the delta does not name its base pipeline: pass --base (a diffusers pipeline folder)")
        te = _text_encoder_dir(Path(where))
        import torch

        dtype = getattr(torch, str(meta.get("dtype", "float32")))  # the dtype the edit was evaluated in
        enc = CLIPTextModel.from_pretrained(te, local_files_only=True, torch_dtype=dtype).eval()
        params = _hf_params(enc)
        named = {n: params[_hf_name(params, n)].detach() for n in meta["base_edited_tensors"]
                 if _hf_name(params, n) in params}
        return "text_encoder", enc, named, str(te)
    if family == "transformers-llava-vision":
        import torch

        from slug.vlm.model import load_vlm

        where = base or bm.get("vlm")
        if not where or not (Path(where) / "config.json").is_file():
            raise Refused(f"base {where}: not a LLaVA folder (config.json): pass --base the LLaVA the delta was "
                          "computed on")
        vlm, tok = load_vlm(where, "cpu", getattr(torch, str(meta.get("dtype", "float32"))))
        params = dict(vlm.named_parameters())
        named = {n: params[n].detach() for n in meta["base_edited_tensors"] if n in params}
        return "vlm", (vlm, tok), named, str(where)
    raise Refused(f"unknown delta family {family!r}")


# ------------------------------------------------------------------------------------------
# commands
# ------------------------------------------------------------------------------------------


def cmd_apply(args: argparse.Namespace) -> int:
    import torch

    from slug.export.formats import check_base, read_delta

    delta, meta = read_delta(args.delta)
    out = Path(args.out)
    text_encoder = meta["family"] in ("diffusers-text-encoder", "transformers-llava-vision")  # a folder
    if text_encoder and out.suffix in (".safetensors", ".pt", ".pth", ".bin"):
        raise Refused(f"--out {out}: a text encoder or a LLaVA is written as a Hugging Face folder (config.json + "
                      "model.safetensors): name a folder")
    if out.exists() and not args.force:
        raise Refused(f"--out {out} exists: pass another path, or --force to replace it")
    if out.is_dir() and not (out / "config.json").is_file():
        raise Refused(f"--out {out} is a folder that does not hold a model (no config.json): it is never replaced; "
                      "pass another path")
    if out.is_dir() and not text_encoder:
        raise Refused(f"--out {out} is a folder: an open_clip model is one .safetensors or .pt file")
    kind, obj, named, where = _load_base(meta, args.base)
    check_base(meta, named, where=f"base {where}")
    if kind == "open_clip":
        from slug.clip.models import save_state_dict
        from slug.core.unlearn import apply_deltas
        from slug.export.clip import write_clip_model

        new = apply_deltas(obj, delta)
        if out.suffix == ".safetensors":
            write_clip_model(out, new, {k: meta.get(k) for k in ("concept", "display_name", "kind", "method", "layer",
                                                                 "lambda", "rho", "base_sha256")}
                             | {"base_arch": meta["base_model"]["arch"], "base_pretrained": str(where)})
        elif out.suffix in (".pt", ".pth"):
            save_state_dict(new, out)
        else:
            raise Refused(f"--out {out}: name the file .safetensors or .pt (an open_clip checkpoint)")
    elif kind == "vlm":
        from slug.export.vlm import PROVENANCE_KEYS as VLM_KEYS, save_vlm_folder

        vlm, tok = obj
        params = dict(vlm.named_parameters())
        with torch.no_grad():
            for n, d in delta.items():
                params[n].add_(d.to(params[n].dtype))
        save_vlm_folder(vlm, tok, out, {k: meta.get(k) for k in VLM_KEYS} | {"base_model": {"vlm": where}})
    else:
        from slug.export.diffusion import PROVENANCE_KEYS, save_text_encoder

        params = _hf_params(obj)
        with torch.no_grad():
            for n, d in delta.items():
                p = params[_hf_name(params, n)]
                p.add_(d.to(p.dtype))
        save_text_encoder(obj, out, {k: meta.get(k) for k in PROVENANCE_KEYS} | {"base_model": {"text_encoder": where}})
    print(f"applied {meta.get('display_name') or meta.get('concept')} ({meta.get('kind')}) delta on "
          f"{', '.join(delta)} to {where}: wrote {out}")
    return 0


def _describe_tensors(tensors: dict) -> list[str]:
    return [f"  {k}: {tuple(v.shape)} {str(v.dtype).removeprefix('torch.')}, norm {float(v.float().norm()):.4g}"
            for k, v in sorted(tensors.items())]


def _base_for(meta: dict[str, Any], base: str | None) -> tuple[bool, str | None]:
    """Whether to check this delta against a base, and which: ``""`` = the base it records; an explicit base
    applies to deltas of its family (a folder: a text encoder's; a file or a tag: open_clip's)."""
    if base is None:
        return False, None
    if base == "":
        return True, None
    return (Path(base).is_dir()) == (meta["family"] in ("diffusers-text-encoder", "transformers-llava-vision")), base


def _inspect_safetensors(path: Path, base: str | None) -> list[str]:
    from slug.export.formats import check_base, decode_metadata, describe_base, read_delta, read_safetensors

    tensors, raw = read_safetensors(path)
    fmt = decode_metadata(raw).get("format")
    if fmt == "slug-delta":
        delta, meta = read_delta(path)
        lines = [f"{path}: SLUG delta ({meta['family']})",
                 f"concept: {meta.get('display_name')} ({meta.get('concept')}), kind {meta.get('kind')}",
                 f"layer: {meta.get('layer')}; lambda {meta.get('lambda')}; rho {meta.get('rho')}",
                 f"base: {describe_base(meta)}",
                 f"base checksum of the edited tensors: {meta['base_edited_sha256']}"]
        if meta.get("base_sha256"):
            lines.append(f"base checksum of every tensor: {meta['base_sha256']}")
        lines += ["tensors:", *_describe_tensors(delta)]
        check, which = _base_for(meta, base)
        if check:
            _, _, named, where = _load_base(meta, which)
            check_base(meta, named, where=f"base {where}")
            lines.append(f"base {where}: matches (the delta applies to it)")
        elif base:
            lines.append(f"(--base {base} is not a base of this delta's family, {meta['family']}: not checked)")
        return lines
    if fmt == "slug-model":
        from slug.export.formats import tensors_sha256

        meta = decode_metadata(raw)
        if base is not None:
            raise Refused("--base checks a delta: inspect the delta.safetensors beside this model")
        lines = [f"{path}: unlearned {meta.get('library', '')} model, {len(tensors)} tensors",
                 *[f"{k}: {v}" for k, v in sorted(meta.items()) if k not in ("format", "library")],
                 f"checksum of every tensor: {tensors_sha256(tensors)}"]
        return lines
    return [f"{path}: safetensors file with {len(tensors)} tensors (not written by slug-pipeline)",
            *_describe_tensors(tensors)[:20]]


def cmd_inspect(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if not path.exists():
        raise Refused(f"{path}: no such file or folder")
    if path.is_dir():
        candidates = [path / "delta.safetensors", path / "unlearned" / "delta.safetensors",
                      path / "sd" / "unlearned" / "delta.safetensors", path / "vlm" / "unlearned" / "delta.safetensors"]
        found = [c for c in candidates if c.is_file()]
        lines = []
        if (path / "config.json").is_file() and (path / "model.safetensors").is_file():
            cfg = json.loads((path / "config.json").read_text())
            from slug.export.formats import read_safetensors, tensors_sha256

            tensors, _ = read_safetensors(path / "model.safetensors")
            lines += [f"{path}: Hugging Face {cfg.get('architectures', ['model'])[0]} "
                      f"({cfg.get('num_hidden_layers')} layers, width {cfg.get('hidden_size')}), {len(tensors)} tensors",
                      f"checksum of every tensor: {tensors_sha256(tensors)}"]
            if (path / "slug.json").is_file():
                rec = json.loads((path / "slug.json").read_text())
                lines += [f"{k}: {v}" for k, v in sorted(rec.items()) if k not in ("format", "library")]
        if not found and not lines:
            raise Refused(f"{path}: no delta.safetensors here nor in unlearned/ or sd/unlearned/, and not a Hugging "
                          "Face model folder: pass a delta, a model file or a results/<concept> folder")
        for f in found:
            lines += _inspect_safetensors(f, args.base)
        manifest = path / "unlearned" / "manifest.json" if (path / "unlearned").is_dir() else path / "manifest.json"
        if manifest.is_file():
            lines.append(f"load ({manifest}): {json.loads(manifest.read_text()).get('load')}")
        print("\n".join(lines))
        return 0
    if path.suffix == ".safetensors":
        print("\n".join(_inspect_safetensors(path, args.base)))
        return 0
    if path.suffix in (".pt", ".pth"):
        from slug.io import load_tensor_dict

        if args.base is not None:
            raise Refused("--base checks a delta.safetensors (a .pt carries no record of its base): inspect the "
                          ".safetensors beside it")
        tensors = load_tensor_dict(path)
        lines = [f"{path}: {len(tensors)} tensors (.pt, loaded with weights_only=True)"]
        lines += _describe_tensors(tensors) if len(tensors) <= 20 else []
        manifest = path.parent / "manifest.json"
        if manifest.is_file():
            m = json.loads(manifest.read_text())
            lines.append(f"manifest: layer {m.get('layer')}, lambda {m.get('lambda')}, rho {m.get('rho')}, "
                         f"base {m.get('base_model')}")
        print("\n".join(lines))
        return 0
    raise Refused(f"{path}: not a .safetensors, .pt or folder")


def concept_status(folder: Path) -> dict[str, Any]:
    """One results/<concept> folder's progress and outcome, from the files present."""
    stages = [("report.html", "reported"), ("metrics.json", "evaluated"), ("unlearned/checkpoint.pt", "unlearned"),
              ("selection.json", "searched"), ("layers.tsv", "ranked"), ("forget_grads.pt", "gradients"),
              ("forget.tar", "curated")]
    status = next((s for f, s in stages if (folder / f).exists()), "started")
    row: dict[str, Any] = {"concept": folder.name, "status": status}
    if (folder / "selection.json").is_file():
        sel = json.loads((folder / "selection.json").read_text())
        row |= {"name": sel.get("display_name"), "kind": sel.get("kind", "person"),
                "criterion": "met" if sel.get("criterion_met") else "NOT met", "layer": sel.get("layer"),
                "rho": round(float(sel["rho"]), 4) if isinstance(sel.get("rho"), (int, float)) else ""}
    if (folder / "metrics.json").is_file():
        m = json.loads((folder / "metrics.json").read_text())
        b, a = m.get("before", {}).get("forget_top5"), m.get("after", {}).get("forget_top5")
        row["forget_top5"] = f"{100 * b:.0f}->{100 * a:.0f}%" if b is not None and a is not None else ""
    if (folder / "unlearned" / "README.md").is_file():
        row["card"] = "yes"
    for key, path, metric, unit in (("sd", "sd/sd_metrics.json", "target", "%"),
                                    ("vlm", "vlm/vlm_metrics.json", "forget", "% named")):
        if (folder / path).is_file():
            s = json.loads((folder / path).read_text())
            if f"{metric}_before" in s and f"{metric}_after" in s:
                row[key] = (f"{100 * s[f'{metric}_before']:.0f}->{100 * s[f'{metric}_after']:.0f}{unit} "
                            f"({'met' if s.get('criterion_met_in_search') else 'NOT met'})")
    return row


def cmd_list(args: argparse.Namespace) -> int:
    import pandas as pd

    from slug.concepts import CONCEPT_RE

    root = Path(args.results)
    if not root.is_dir():
        raise Refused(f"{root}: no such results folder (run the workflow first, or pass the folder: slug list PATH)")
    rows = [concept_status(d) for d in sorted(root.iterdir()) if d.is_dir() and CONCEPT_RE.match(d.name)]
    joint = root / "joint"
    if joint.is_dir():
        rows += [{"concept": f"joint/{d.name}", "status": "reported" if (d / "report.html").exists() else "started"}
                 for d in sorted(joint.iterdir()) if d.is_dir()]
    if not rows:
        print(f"{root}: no concepts yet")
        return 0
    df = pd.DataFrame(rows).fillna("")
    print(df.to_csv(sep="\t", index=False) if args.tsv else df.to_string(index=False))
    return 0


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="slug", description="Unlearned models of slug-pipeline: apply, inspect, list.")
    sub = ap.add_subparsers(dest="command", required=True)
    a = sub.add_parser("apply", help="add a delta to its base model and write the result in the family's format")
    a.add_argument("delta", help="a delta.safetensors (results/<concept>/unlearned/ or sd/unlearned/)")
    a.add_argument("--base", help="the base model (default: the one the delta records): an open_clip checkpoint "
                                  "or tag, or a diffusers pipeline / text-encoder folder")
    a.add_argument("--out", required=True, help="open_clip: a .safetensors or .pt file; text encoder: a folder")
    a.add_argument("--force", action="store_true", help="replace --out if it exists (a model file or folder)")
    a.set_defaults(func=cmd_apply)
    i = sub.add_parser("inspect", help="what a delta, an unlearned model or a results/<concept> folder holds")
    i.add_argument("path")
    i.add_argument("--base", nargs="?", const="", default=None,
                   help="also check that the delta applies to this base (no value: the base it records)")
    i.set_defaults(func=cmd_inspect)
    ls = sub.add_parser("list", help="the concepts of a results folder with their status")
    ls.add_argument("results", nargs="?", default="results")
    ls.add_argument("--tsv", action="store_true", help="tab-separated output")
    ls.set_defaults(func=cmd_list)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (Refused, BaseMismatch, ValueError, OSError, KeyError, RuntimeError) as e:
        print(f"slug {args.command}: refused: {e}", file=sys.stderr)
        return REFUSED


if __name__ == "__main__":
    sys.exit(main())
