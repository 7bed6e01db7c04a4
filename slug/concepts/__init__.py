"""Concepts: their ids (the results/ folder and the Snakemake wildcard), kinds, display names, aliases and
the whole-word caption pattern that finds them in web alt text.

A concept is of one :data:`KINDS`: a ``person`` (the default) or a ``character`` is found by its name
(or an alias); an ``object`` by its class name or a synonym, singular or plural; a ``style`` by the
phrases captions use for styles ("in the style of X", "X style", "by X", "X painting", "X art").

Fixes over the reference's ``a0_create_tar.py``: whole-word matching with spaces and underscores
treated alike (so ``elon_musk`` and "Elon Musk" both match "Elon Musk at the gala" but "Elongated
muskrat" does not).
"""

from __future__ import annotations

import re
from typing import Sequence

KINDS = ("person", "object", "character", "style")
#: Each kind's evaluation task, in the order the tasks are listed (slug.clip.evaluation.tasks.eval_tasks).
KIND_TASKS = {"person": "identities", "object": "objects", "character": "characters", "style": "styles"}
#: Each task's retain top-1 key and how the pages name it.
RETAIN_TOP1 = {"retain_id_top1": "retain identities", "objects_top1": "objects", "characters_top1": "characters",
               "styles_top1": "styles"}
#: Each retain top-1 key's task (``retain_id_top1`` -> ``identities``, ...).
RETAIN_TASK = dict(zip(RETAIN_TOP1, KIND_TASKS.values()))
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


def concept_kind(concept: str, table: dict | None = None) -> str:
    """The concept's kind (``person`` unless the table says otherwise); an unknown kind names the fix."""
    kind = ((table or {}).get(concept) or {}).get("kind") or "person"
    if kind not in KINDS:
        raise ValueError(f"concept {concept!r}: unknown kind {kind!r}; use one of {', '.join(KINDS)} "
                         "in the concepts table (or the sheet's kind column)")
    return kind


def plurals(term: str) -> list[str]:
    """English plural forms of a term's last word ("fox" -> "foxes", "strawberry" -> "strawberries")."""
    words = term.strip().split()
    if not words:
        return []
    last, low = words[-1], words[-1].lower()
    if low.endswith(("s", "x", "z", "ch", "sh")):
        forms = [last + "es"]
    elif low.endswith("y") and len(low) > 1 and low[-2] not in "aeiou":
        forms = [last[:-1] + "ies"]
    elif low.endswith("f"):
        forms = [last + "s", last[:-1] + "ves"]
    elif low.endswith("fe"):
        forms = [last + "s", last[:-2] + "ves"]
    else:
        forms = [last + "s"]
    return [" ".join([*words[:-1], f]) for f in forms]


#: How captions name a style X (the phrases are matched as whole words, case-insensitively).
STYLE_PHRASES = ("in the style of {}", "{} style", "{}-style", "{} styled", "by {}", "{} painting", "{} paintings",
                 "{} art", "{} artwork")


def kind_terms(terms: Sequence[str], kind: str = "person") -> list[str]:
    """The phrases that name a concept of ``kind`` in a caption: names for people and characters, names
    with their plurals for objects, the style phrases around each name for styles."""
    terms = [t for t in terms if t.strip()]
    if kind in ("person", "character"):
        return list(terms)
    if kind == "object":
        return [f for t in terms for f in (t, *plurals(t))]
    if kind == "style":
        return [ph.format(t.strip()) for t in terms for ph in STYLE_PHRASES]
    raise ValueError(f"unknown concept kind {kind!r}; use one of {', '.join(KINDS)}")


def concept_terms(concept: str, table: dict | None = None) -> list[str]:
    entry = (table or {}).get(concept) or {}
    return [display_name(concept, table), *entry.get("aliases", [])]


def concept_pattern(terms: Sequence[str], kind: str = "person") -> re.Pattern:
    """Case-insensitive whole-word regex matching any of the concept's phrases (:func:`kind_terms`);
    spaces and underscores are alike."""
    alts = []
    for t in kind_terms(terms, kind):
        words = [w for w in re.split(r"[\s_]+", t.strip()) if w]
        if words:
            alts.append(r"[\s_]+".join(re.escape(w) for w in words))
    if not alts:
        raise ValueError(f"no usable match terms in {list(terms)!r}")
    return re.compile(r"(?<![^\W_])(?:" + "|".join(alts) + r")(?![^\W_])", re.IGNORECASE)
