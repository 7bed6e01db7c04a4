"""Concept kinds: caption matching per kind (names; synonyms and plurals; style phrases), whole words."""
import pytest

from slug.concepts import KINDS, concept_kind, concept_pattern, kind_terms, plurals


@pytest.mark.parametrize("term,forms", [
    ("dog", ["dogs"]), ("fox", ["foxes"]), ("strawberry", ["strawberries"]), ("key", ["keys"]),
    ("golden retriever", ["golden retrievers"]), ("bus", ["buses"]), ("leaf", ["leafs", "leaves"]),
    ("knife", ["knifes", "knives"]), ("watch", ["watches"]),
])
def test_plurals_of_the_last_word(term, forms):
    assert plurals(term) == forms


@pytest.mark.parametrize("caption,hit", [
    ("a golden retriever", True), ("two Golden Retrievers playing", True), ("golden_retriever.jpg", True),
    ("retriever", False), ("golden retrieverish", False), ("a golden", False),
])
def test_objects_match_their_name_and_plural(caption, hit):
    assert bool(concept_pattern(["golden retriever"], "object").search(caption)) is hit


def test_objects_match_their_synonyms_too():
    pat = concept_pattern(["mug", "coffee cup"], "object")
    assert pat.search("three coffee cups") and pat.search("my mug") and not pat.search("smuggler")


@pytest.mark.parametrize("caption,hit", [
    ("sunflowers in the style of Van Gogh", True), ("a cat, van gogh style", True), ("Van Gogh-style poster", True),
    ("starry night by Van Gogh", True), ("Van Gogh painting of a boat", True), ("van gogh art print", True),
    ("Van Gogh", False),  # the bare name is the painter (a person), not the style
    ("a Van Goghish style", False), ("by Van Goghs", False), ("in the style of van", False),
])
def test_styles_match_the_phrases_captions_use(caption, hit):
    assert bool(concept_pattern(["Van Gogh"], "style").search(caption)) is hit


@pytest.mark.parametrize("caption,hit", [
    ("Mickey Mouse waves", True), ("mickey_mouse plush", True), ("Mickey Mousetrap", False), ("a mouse", False),
])
def test_characters_match_by_name_as_people_do(caption, hit):
    assert bool(concept_pattern(["Mickey Mouse"], "character").search(caption)) is hit


def test_people_match_exactly_as_before_kinds():
    assert kind_terms(["Elon Musk", "Musk"]) == ["Elon Musk", "Musk"]
    assert concept_pattern(["Elon Musk"]).pattern == concept_pattern(["Elon Musk"], "person").pattern


def test_the_kind_comes_from_the_table_and_defaults_to_person():
    table = {"van_gogh": {"name": "Van Gogh", "kind": "style"}, "elon_musk": {"name": "Elon Musk"}}
    assert concept_kind("van_gogh", table) == "style"
    assert concept_kind("elon_musk", table) == "person" and concept_kind("other", table) == "person"
    with pytest.raises(ValueError, match="unknown kind 'painter'.*person, object, character, style"):
        concept_kind("x", {"x": {"kind": "painter"}})
    assert KINDS == ("person", "object", "character", "style")
