"""Configuration: load YAML safely, fill defaults and validate against ``configs/schema.yaml``."""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

import yaml

from slug.concepts import KINDS

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "configs" / "schema.yaml"
MODEL_CONFIG_DIR = Path(__file__).resolve().parent / "model_configs"  # open_clip configs shipped with slug


#: The rules of one concept's chain, in order (their benchmarks are the report's stage times) ...
CONCEPT_STAGES = ("curate_forget_set", "forget_gradient", "rank_layers", "search_step", "unlearn", "evaluate")
#: ... and those that are SLUG's own cost per concept (the retain gradient is shared by all concepts).
SLUG_STAGES = ("forget_gradient", "rank_layers", "search_step", "unlearn")


def is_local_checkpoint(pretrained: str | None) -> bool:
    """True when ``model.pretrained`` names a checkpoint file (a path or a .pt/.pth/.safetensors name), not a tag."""
    return pretrained is not None and (os.sep in str(pretrained)
                                       or str(pretrained).endswith((".pt", ".pth", ".safetensors")))


def image_caps(section: dict) -> dict:
    """The evaluation-image caps of a config section ('search' or 'evaluation'), as load_eval_set takes them."""
    return {k: section[k] for k in ("max_per_identity", "max_per_class")}


def bundled_arch_config(arch: str) -> Path | None:
    """The JSON of ``model.arch`` in slug/model_configs, or None when open_clip ships the architecture."""
    path = MODEL_CONFIG_DIR / f"{arch}.json"
    return path if path.exists() else None


def schema_default(*path: str) -> Any:
    """The schema's default of one config key, e.g. ``schema_default("pretrain", "epochs")``: the one
    source of every default (the library's dataclasses read theirs from here)."""
    node = _schema()
    for key in path:
        node = node["properties"][key]
    if "default" not in node:
        raise KeyError(f"configs/schema.yaml has no default for {'.'.join(path)}")
    return copy.deepcopy(node["default"])


_SCHEMA_CACHE: dict = {}


def _schema() -> dict:
    if not _SCHEMA_CACHE:
        _SCHEMA_CACHE.update(load_yaml(SCHEMA_PATH))
    return _SCHEMA_CACHE


class ConfigError(ValueError):
    """A config value is missing or out of range; the message names the key and what is allowed."""


def load_yaml(path: str | Path) -> dict:
    with open(path) as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def _fill_defaults(schema: dict, node: Any) -> Any:
    if not isinstance(node, dict) or schema.get("type") not in ("object", None):
        return node
    for key, sub in schema.get("properties", {}).items():
        if key not in node and "default" in sub:
            node[key] = copy.deepcopy(sub["default"])
        if key in node:
            node[key] = _fill_defaults(sub, node[key])
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key in node:
            if key not in schema.get("properties", {}):
                node[key] = _fill_defaults(extra, node[key])
    return node


def _describe(error) -> str:
    key = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    schema = error.schema if isinstance(error.schema, dict) else {}
    allowed = []
    if "enum" in schema:
        allowed.append(f"one of {schema['enum']}")
    for bound, word in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<")):
        if bound in schema:
            allowed.append(f"{word} {schema[bound]}")
    if "pattern" in schema:
        allowed.append(f"matching {schema['pattern']}")
    if "type" in schema and error.validator == "type":
        allowed.append(f"of type {schema['type']}")
    hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
    return f"config key '{key}': {error.message}{hint}"


def _types(schema: dict) -> set[str]:
    """The JSON types a schema node allows (its own ``type`` and those of its ``oneOf`` branches)."""
    out: set[str] = set()
    for node in [schema, *schema.get("oneOf", [])]:
        t = node.get("type")
        out.update([t] if isinstance(t, str) else (t or []))
        if isinstance(node.get("const"), str) or any(isinstance(v, str) for v in node.get("enum", [])):
            out.add("string")
    return out


def _coerce(value: Any, schema: dict) -> Any:
    """Scalars given as text where the schema wants no text become numbers, booleans or null.

    Snakemake's ``--config key={a: 1}`` reads the values inside a mapping with YAML's BaseLoader,
    which gives every scalar as a string; a YAML config file gives typed values and is unchanged.
    """
    if isinstance(value, dict):
        props, extra = schema.get("properties", {}), schema.get("additionalProperties")
        return {k: _coerce(v, props.get(k, extra if isinstance(extra, dict) else {})) for k, v in value.items()}
    if isinstance(value, list):
        items = schema.get("items") or next((b["items"] for b in schema.get("oneOf", []) if "items" in b), {})
        return [_coerce(v, items) for v in value]
    types = _types(schema)
    if not isinstance(value, str) or not types or "string" in types:
        return value
    text = value.strip()
    if types & {"integer", "number"} and re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    if "number" in types and re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text):
        return float(text)  # finite by the pattern: "nan" and "inf" stay text and fail validation
    if "boolean" in types and text.lower() in ("true", "false"):
        return text.lower() == "true"
    if "null" in types and text in ("null", "None", "~", ""):
        return None
    return value


SHEET_COLUMNS = ("id", "name", "aliases", "kind")


def read_concept_sheet(path: str | Path) -> dict[str, dict]:
    """The concepts of a TSV sheet (columns ``id``, ``name``, optional ``aliases`` separated by ';' and
    ``kind``: person, object, character or style) as
    the ``concepts:`` mapping; every error names the file, the row and the fix."""
    import csv

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config key 'concept_sheet': no file {str(path)!r} (a path relative to the working "
                          "directory; columns id, name, aliases)")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f, delimiter="\t")
        rows, header = list(reader), reader.fieldnames or []
    missing = [c for c in ("id", "name") if c not in header]
    unknown = [c for c in header if c not in SHEET_COLUMNS]
    if missing or unknown:
        raise ConfigError(f"concept sheet {path}: columns must be id, name and optionally aliases "
                          "and kind (tab-separated); "
                          f"missing {missing}, unknown {unknown}")
    out: dict[str, dict] = {}
    for line, row in enumerate(rows, start=2):
        cid, name = (row.get("id") or "").strip(), (row.get("name") or "").strip()
        if not cid or not name:
            raise ConfigError(f"concept sheet {path}, line {line}: id and name must both be given")
        if cid in out:
            raise ConfigError(f"concept sheet {path}, line {line}: the id {cid!r} appears twice")
        aliases = [a.strip() for a in (row.get("aliases") or "").split(";") if a.strip()]
        kind = (row.get("kind") or "").strip() or "person"
        if kind not in KINDS:
            raise ConfigError(f"concept sheet {path}, line {line}: unknown kind {kind!r} for {cid!r}; use one of "
                              f"{', '.join(KINDS)} (or leave it empty for person)")
        out[cid] = {"name": name, "aliases": aliases, "kind": kind}
    return out


def _merge_sheet(cfg: dict) -> dict:
    sheet = cfg.get("concept_sheet")
    if not sheet:
        return cfg
    rows = read_concept_sheet(sheet)
    both = sorted(set(rows) & set(cfg.get("concepts") or {}))
    if both:
        raise ConfigError(f"concept(s) {both} are both in `concepts:` and in the concept sheet {sheet}: keep one")
    cfg["concepts"] = {**(cfg.get("concepts") or {}), **rows}
    return cfg


def validate_config(config: dict, schema_path: str | Path = SCHEMA_PATH) -> dict:
    """Return a validated copy of ``config`` with defaults filled; raise ConfigError otherwise."""
    from jsonschema import Draft202012Validator

    # the schema is read once per process (schema_default reads the same copy); neither use changes it
    schema = _schema() if Path(schema_path) == SCHEMA_PATH else load_yaml(schema_path)
    cfg = _merge_sheet(_fill_defaults(schema, _coerce(copy.deepcopy(config), schema)))
    errors = sorted(Draft202012Validator(schema).iter_errors(cfg), key=lambda e: list(e.absolute_path))
    if errors:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(_describe(e) for e in errors))
    from slug.baselines import METHODS
    from slug.concepts import RESERVED_IDS

    unknown = [m for m in cfg["baselines"]["methods"] if m not in METHODS]
    if unknown:
        raise ConfigError(f"config key 'baselines.methods': unknown method(s) {unknown}: choose from {', '.join(METHODS)}")

    named = [(f"concepts.{c}", c) for c in cfg["concepts"]]
    named += [("comparison.concepts", c) for c in cfg.get("comparison", {}).get("concepts", [])]
    named += [(f"joint.{j}", c) for j, members in (cfg.get("joint") or {}).items() for c in members]
    for where, concept in named:
        if concept in RESERVED_IDS:
            raise ConfigError(f"config key '{where}': the concept id {concept!r} is reserved (results/{concept}/ holds "
                              f"the workflow's own files; {', '.join(RESERVED_IDS)} are taken): choose another id")
    data = cfg["data"]
    for key in ("retain_shards", "forget_shards"):
        idx = data.get(key)
        if isinstance(idx, list) and max(idx) >= data["num_shards"]:
            raise ConfigError(f"config key 'data.{key}': shard index {max(idx)} does not exist "
                              f"(allowed: 0 .. data.num_shards-1 = {data['num_shards'] - 1})")
    if "world" in cfg:  # the demo world writes a fixed layout beside its parquet (slug.world.write_world)
        root = os.path.dirname(os.path.normpath(data["laion_parquet"]))
        layout = {"laion_parquet": os.path.join(root, "laion.parquet"), "celeba_dir": os.path.join(root, "celeba"),
                  "imagenet_dir": os.path.join(root, "imagenet"),
                  "nonmember_shards": [os.path.join(root, "nonmember", "00000.tar")]}
        for key, expected in layout.items():
            given = data[key]
            if (os.path.normpath(given) if isinstance(given, str) else [os.path.normpath(x) for x in given]) != expected:
                raise ConfigError(f"config key 'data.{key}': the demo world writes {expected!r} (the layout beside "
                                  "data.laion_parquet); set it to that, or move the world by changing "
                                  "laion_parquet's folder")
        for key, sub, count in (("characters_dir", "characters", "n_characters"), ("canvas_dir", "canvas", "n_styles")):
            if data.get(key) is None:
                continue
            if os.path.normpath(data[key]) != os.path.join(root, sub):
                raise ConfigError(f"config key 'data.{key}': the demo world writes {os.path.join(root, sub)!r}; "
                                  "set it to that, or to null for no such evaluation task")
            if not cfg["world"].get(count):
                raise ConfigError(f"config key 'data.{key}' is set but world.{count} is 0: the world would write no "
                                  f"such images; set world.{count} >= 1 or data.{key}: null")
    vlm = cfg.get("vlm", {})
    if vlm.get("enabled") and vlm.get("model", "train") != "train" and not vlm.get("model_dir"):
        raise ConfigError(f"config key 'vlm.model_dir': vlm.model is {vlm['model']!r}, so set vlm.model_dir to the local "
                          "folder of that LLaVA (config.json inside), or vlm.model to train for the demo VLM")
    if vlm.get("model", "train") == "train" and "world" not in cfg and vlm.get("enabled"):
        raise ConfigError("config key 'vlm.model': train builds the demo VLM on the demo world, which this config has "
                          "not (no world: section); set vlm.model and vlm.model_dir to a local LLaVA")
    return _sorted(cfg)


def _sorted(node: Any) -> Any:
    """Keys in a canonical order, so that reordering a YAML file never looks like a change to Snakemake."""
    if isinstance(node, dict):
        return {k: _sorted(node[k]) for k in sorted(node)}
    if isinstance(node, list):
        return [_sorted(v) for v in node]
    return node
