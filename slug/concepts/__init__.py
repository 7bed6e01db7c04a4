"""Concepts: their ids (the results/ folder and the Snakemake wildcard), display names, aliases and the
whole-word caption pattern that finds them in web alt text.

Fixes over the reference's ``a0_create_tar.py``: whole-word matching with spaces and underscores
treated alike (so ``elon_musk`` and "Elon Musk" both match "Elon Musk at the gala" but "Elongated
muskrat" does not).
"""

from __future__ import annotations

import re
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
