"""Forget-set curation: find a concept's image-text pairs in web shards by caption (the pattern of
:func:`slug.concepts.concept_pattern`).

Fixes over the reference's ``a0_create_tar.py``: duplicates dropped, the cap really enforced,
provenance kept.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from slug.concepts import concept_pattern


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


def curate(shards: Sequence[str | Path], terms: Sequence[str], max_images: int, kind: str = "person") -> CurationResult:
    """Keep the samples whose caption names the concept (a ``kind``, :func:`slug.concepts.kind_terms`):
    whole words, no duplicates, at most ``max_images``."""
    import json

    from slug.data import iter_raw

    if max_images < 1:
        raise ValueError(f"forget.max_images must be >= 1, got {max_images}")
    pat = concept_pattern(terms, kind)
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
