"""The VLM's questions and answers, its instruction set on the demo world, and its naming tasks.

Questions per kind (person, object, character): the training set asks every phrasing of
``TRAIN_QUESTIONS``; the search asks one (:data:`SEARCH_QUESTION`); the evaluation asks that one, other
trained phrasings and one phrasing no training or search ever used (:data:`UNSEEN_QUESTIONS`). A
question's *answer is right* when it contains the class name (case-insensitive substring, as the
reference's lmms-eval tasks score a celebrity's name); :func:`rouge_l` scores the whole answer against
the world's answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

#: The phrasings the demo VLM is trained on, with the answers' forms ({} = the class name).
TRAIN_QUESTIONS = {
    "person": ("What's the name of the person in this image?", "Who is this?", "Who is shown in this picture?"),
    "character": ("What's the name of the character in this image?", "Who is this character?"),
    "object": ("What is in this image?", "What object is shown in this picture?"),
}
ANSWERS = {
    "person": ("This is {}.", "{}.", "The person in this image is {}."),
    "character": ("This is {}.", "{}."),
    "object": ("A {}.", "It is a {}."),
}
#: The search's question per kind (the reference's: "What's the name of the person in this image?").
SEARCH_QUESTION = {k: v[0] for k, v in TRAIN_QUESTIONS.items()}
#: Phrasings never used in training nor in the search.
UNSEEN_QUESTIONS = {
    "person": "Can you tell me who appears in this photo?",
    "character": "Which character is this?",
    "object": "Can you tell me what this picture shows?",
}
#: The task of each kind's images, and its metric prefix (as CLIP's tasks).
KIND_TASK = {"person": ("identities", "retain_id"), "object": ("objects", "objects"),
             "character": ("characters", "characters")}


def reference_answer(kind: str, name: str) -> str:
    """The world's canonical answer to the search question (the ROUGE-L reference)."""
    return ANSWERS[kind][0].format(name)


def all_texts(names: dict[str, Sequence[str]]) -> list[str]:
    """Every question and answer the world can produce (the tokenizer's vocabulary)."""
    from slug.vlm.model import PROMPT

    out = [PROMPT.format(question=q) for qs in TRAIN_QUESTIONS.values() for q in qs]
    out += [PROMPT.format(question=q) for q in UNSEEN_QUESTIONS.values()]
    for kind, ns in names.items():
        out += [a.format(n) for a in ANSWERS[kind] for n in ns]
    return out


def names_answer(answer: str, name: str) -> bool:
    """The lmms-eval rule: the answer contains the name (case-insensitive; the demo tokenizer's spacing
    of punctuation ignored)."""
    def norm(s: str) -> str:
        return " ".join(s.lower().replace(".", " ").replace(",", " ").split())

    return f" {norm(name)} " in f" {norm(answer)} "


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1 over lower-cased word tokens (punctuation dropped)."""
    def toks(s: str) -> list[str]:
        return [w for w in s.lower().replace(".", " ").replace(",", " ").replace("?", " ").split()]

    a, b = toks(candidate), toks(reference)
    if not a or not b:
        return 0.0
    dp = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            dp[i + 1][j + 1] = dp[i][j] + 1 if x == y else max(dp[i][j + 1], dp[i + 1][j])
    lcs = dp[-1][-1]
    if lcs == 0:
        return 0.0
    p, r = lcs / len(a), lcs / len(b)
    return 2 * p * r / (p + r)


@dataclass
class InstructionSet:
    """The demo VLM's training images (PIL) with their kind and class name."""

    images: list
    kinds: list[str]
    labels: list[str]

    def counts(self) -> dict[str, int]:
        return {k: self.kinds.count(k) for k in sorted(set(self.kinds))}


def render_instruction_set(identities, characters, per_class: int, image_size: int, seed: int,
                           objects: Sequence[str] | None = None, stream: int = 20) -> InstructionSet:
    """``per_class`` freshly drawn images of every identity, character and object class (random stream
    ``stream``, distinct from the corpus and the held-out sets: 20 = the VLM's training set, 21 = the fresh
    images of its evaluation)."""
    from slug.world import OBJECT_CLASSES, draw_character, draw_object, draw_person

    def rng(*path: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([seed, stream, *path]))

    images, kinds, labels = [], [], []
    for j, ident in enumerate(identities):
        for m in range(per_class):
            images.append(draw_person(ident, rng(0, j, m), image_size))
            kinds.append("person")
            labels.append(ident.name)
    for j, ch in enumerate(characters):
        for m in range(per_class):
            images.append(draw_character(ch, rng(1, j, m), image_size))
            kinds.append("character")
            labels.append(ch.name)
    wnids = [w for w, (name, _) in OBJECT_CLASSES.items() if objects is None or name in objects]
    for j, wnid in enumerate(wnids):
        for m in range(per_class):
            images.append(draw_object(wnid, rng(2, j, m), image_size))
            kinds.append("object")
            labels.append(OBJECT_CLASSES[wnid][0])
    return InstructionSet(images, kinds, labels)


def conversation(kind: str, name: str, rng: np.random.Generator) -> tuple[str, str]:
    """One (question, answer) of a training image: a random trained phrasing and answer form."""
    q = TRAIN_QUESTIONS[kind][int(rng.integers(len(TRAIN_QUESTIONS[kind])))]
    a = ANSWERS[kind][int(rng.integers(len(ANSWERS[kind])))]
    return q, a.format(name)
