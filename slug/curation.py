"""Forget-set curation: find a concept's image-text pairs in web shards by caption.

Fixes over the reference's ``a0_create_tar.py``: whole-word matching with spaces and
underscores treated alike (so ``elon_musk`` and "Elon Musk" both match "Elon Musk at the gala"
but "Elongated muskrat" does not), duplicates dropped, the cap really enforced, provenance kept.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

RESERVED_IDS = ("models", "logs", "benchmarks", "joint", "comparison", "summary")  # results/' own folders and files
# The concept wildcard's constraint (Snakemake): snake_case, and not a reserved name as a whole path segment
CONCEPT_WILDCARD = rf"(?!(?:{'|'.join(RESERVED_IDS)})(?:/|$))[a-z0-9_]+"
CONCEPT_RE = re.compile(rf"^{CONCEPT_WILDCARD}$")


def check_concept_id(concept: str) -> None:
    if concept in RESERVED_IDS:
        raise ValueError(f"concept name {concept!r} is reserved: results/{concept}/ holds the workflow's own "
                         f"files ({', '.join(RESERVED_IDS)} are taken); choose another id in the concepts table")
    if not CONCEPT_RE.match(concept or ""):
        raise ValueError(f"ill-formed concept name {concept!r}: use snake_case letters, digits and underscores "
                         f"(e.g. 'elon_musk'); put the display name ('Elon Musk') in the config's concepts table")


def display_name(concept: str, table: dict | None = None) -> str:
    """The concept's display name: from the config table, else the wildcard with spaces."""
    entry = (table or {}).get(concept) or {}
    return entry.get("name") or concept.replace("_", " ").title()


def concept_terms(concept: str, table: dict | None = None) -> list[str]:
    entry = (table or {}).get(concept) or {}
    return [display_name(concept, table), *entry.get("aliases", [])]


def concept_pattern(terms: Sequence[str]) -> re.Pattern:
    """Case-insensitive whole-word regex matching any term; spaces and underscores are alike."""
    alts = []
    for t in terms:
        words = [w for w in re.split(r"[\s_]+", t.strip()) if w]
        if words:
            alts.append(r"[\s_]+".join(re.escape(w) for w in words))
    if not alts:
        raise ValueError(f"no usable match terms in {list(terms)!r}")
    return re.compile(r"(?<![^\W_])(?:" + "|".join(alts) + r")(?![^\W_])", re.IGNORECASE)


@dataclass
class CurationResult:
    samples: list[dict] = field(default_factory=list)  # key, jpg (bytes), txt, json
    scanned: int = 0
    matched: int = 0
    duplicates: int = 0
    shards: list[str] = field(default_factory=list)

    def stats(self) -> dict:
        return {"shards_scanned": self.shards, "samples_scanned": self.scanned, "matches": self.matched,
                "duplicates_dropped": self.duplicates, "kept": len(self.samples)}


def curate(shards: Sequence[str | Path], terms: Sequence[str], max_images: int) -> CurationResult:
    """Keep the samples whose caption names the concept: whole words, no duplicates, at most ``max_images``."""
    import json

    from slug.data import iter_raw

    if max_images < 1:
        raise ValueError(f"forget.max_images must be >= 1, got {max_images}")
    pat = concept_pattern(terms)
    res = CurationResult(shards=[str(s) for s in shards])
    seen: set[str] = set()
    matches = []
    for shard, key, img, ext, caption, meta in iter_raw(shards):
        res.scanned += 1
        if pat.search(caption):
            matches.append((res.shards.index(str(shard)), key, img, ext, caption, meta))
    # shard order, then key order: reproducible whatever order img2dataset's threads wrote the tar in
    matches.sort(key=lambda m: (m[0], m[1]))
    for shard_idx, key, img, ext, caption, meta in matches:
        shard = res.shards[shard_idx]
        res.matched += 1
        digest = hashlib.sha256(img).hexdigest()
        if digest in seen:
            res.duplicates += 1
            continue
        seen.add(digest)
        if len(res.samples) < max_images:
            src = json.loads(meta) if meta else {}
            res.samples.append({"__key__": f"{len(res.samples):06d}", ext: img, "txt": caption,
                                "json": {"source_shard": Path(shard).name, "source_key": key,
                                         "sha256": digest,
                                         **{k: v for k, v in src.items() if k in ("url", "caption", "SAMPLE_ID")}}})
    return res


def write_forget_tar(samples: Sequence[dict], path: str | Path) -> None:
    from slug.data import write_tar

    write_tar(path, samples)
