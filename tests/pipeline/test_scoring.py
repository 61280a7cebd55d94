"""Per-file scoring: normalizer registry, jiwer-backed measures and their defined edge cases."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from whisper_normalizer.english import EnglishTextNormalizer

from pipeline.errors import ConfigurationError, ScoringError
from pipeline.scoring.metrics import EmptyReferenceError, FileScore, score_file
from pipeline.scoring.normalize import NORMALIZER_NAMES, get_normalizer

# --- normalizer registry ------------------------------------------------------------------------


def test_registry_names_and_default():
    assert NORMALIZER_NAMES == ("none", "basic", "english")
    assert get_normalizer() is get_normalizer("english")


def test_normalizers_are_built_once():
    assert get_normalizer("english") is get_normalizer("english")
    assert get_normalizer("basic") is get_normalizer("basic")


def test_unknown_normalizer_names_the_valid_ones():
    with pytest.raises(ConfigurationError) as excinfo:
        get_normalizer("English")
    message = str(excinfo.value)
    assert "'English'" in message
    assert "none, basic, english" in message


def test_none_is_the_identity():
    text = "  It's $5.00,\tCafé!  "
    assert get_normalizer("none")(text) == text


def test_basic_lowercases_and_drops_punctuation_but_keeps_diacritics_and_digits():
    assert get_normalizer("basic")("It's $5.00, 10%").split() == ["it", "s", "5", "00", "10"]
    assert get_normalizer("basic")("Café in Zürich!").split() == ["café", "in", "zürich"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("It's $5.00, 10%", "it is $5 10%"),
        ("it is five dollars ten percent", "it is $5 10%"),
        ("I'm gonna pay $20 million", "i am going to pay $20000000"),
        ("Mr. Smith likes the colour grey", "mister smith likes the color gray"),
        ("twenty-one", "21"),
        ("one oh one", "101"),
        ("1,000,000", "1000000"),
        ("the 1960s", "the 1960s"),
        ("[noise] um, (laughs) hello", "hello"),
        ("café naïve", "cafe naive"),
        ("Straße in Zürich", "strasse in zurich"),
        ("Привет мир", "привет мир"),
        # NFKD + dropping combining marks also strips the Japanese voicing mark: で -> て.
        ("東京都に住んでいます", "東京都に住んています"),
    ],
)
def test_english_normalizer_values(text, expected):
    assert get_normalizer("english")(text) == expected


def test_english_drops_the_lone_symbols_upstream_leaves_behind():
    # Upstream keeps a trailing "." from an ellipsis and a lone "$"; neither is a spoken word.
    assert EnglishTextNormalizer()("and then...") == "and then ."
    assert get_normalizer("english")("and then...") == "and then"
    assert get_normalizer("english")("pay in $ please") == "pay in please"
    assert get_normalizer("english")("...") == ""


@pytest.mark.parametrize(
    ("typed", "recognized"),
    [
        ("I don’t know what it’s for", "I don't know what it's for"),  # typographic apostrophe
        ("“Yes,” she said", '"Yes," she said'),
        ("twenty–one", "twenty-one"),  # en dash
        ("well—maybe", "well, maybe"),  # em dash between words
        ("ten o'clock", "10 o'clock"),
        ("five o’clock", "5 o'clock"),
        ("fifty cents", "50¢"),
        ("at 3 p.m.", "at 3 pm"),
        ("6 A.M.", "6am"),
    ],
)
def test_equal_text_in_another_typed_form_scores_no_error(typed, recognized):
    """Conventions people trip on, folded before Whisper's normalizer (issue 13)."""
    assert score_file(typed, recognized).wer == 0.0


def test_upstream_alone_would_count_the_typographic_apostrophe_as_errors():
    """Why the folding exists: Whisper's normalizer splits "don’t" but expands "don't"."""
    upstream = EnglishTextNormalizer()
    assert upstream("I don’t know what it’s for") != upstream("I don't know what it's for")
    assert upstream("ten o'clock") == "100 clock"  # the "o" read as a zero
    assert score_file("I don’t know what it’s for", "I don't know what it's for").errors == 0


def test_folding_leaves_the_leaderboard_convention_alone_elsewhere():
    english = get_normalizer("english")
    assert english("O'Brien paid $5") == EnglishTextNormalizer()("O'Brien paid $5")
    assert english("it is five dollars ten percent") == "it is $5 10%"


# --- measures -----------------------------------------------------------------------------------


def test_one_substitution_one_deletion_one_insertion():
    score = score_file("the cat sat on the mat", "the dog sat the mat today")
    assert (score.hits, score.substitutions, score.deletions, score.insertions) == (4, 1, 1, 1)
    assert (score.ref_words, score.hyp_words, score.errors) == (6, 6, 3)
    assert score.wer == pytest.approx(3 / 6)
    assert score.mer == pytest.approx(3 / 7)  # errors / (H + S + D + I)
    assert score.wil == pytest.approx(1 - (4 / 6) * (4 / 6))  # 1 - H/N_ref * H/N_hyp
    assert score.accuracy == pytest.approx(0.5)
    assert score.cer == pytest.approx(12 / 22)  # c,a,t->d,o,g; "on " deleted; " today" inserted
    assert score.alignment == (
        "REF: the cat sat on the mat *****\nHYP: the dog sat ** the mat today\n"
        "           S      D             I"
    )


def test_single_character_error_gives_cer_over_reference_characters():
    score = score_file("hello world", "hello word")
    assert score.cer == pytest.approx(1 / 11)  # spaces count as characters
    assert score.wer == pytest.approx(0.5)
    assert score.wil == pytest.approx(0.75)


def test_scores_use_the_normalized_texts():
    score = score_file("It's $5.00, 10%.", "it is five dollars ten percent")
    assert score.reference == score.hypothesis == "it is $5 10%"
    assert (score.wer, score.cer, score.accuracy, score.ref_words) == (0.0, 0.0, 1.0, 4)
    assert score.alignment == "REF: it is $5 10%\nHYP: it is $5 10%"


def test_numbers_are_not_standardized_without_the_english_normalizer():
    score = score_file("It's $5.00, 10%", "it is five dollars ten percent", normalizer="basic")
    # "it s 5 00 10" vs "it is five dollars ten percent": 1 hit, 4 substitutions, 1 insertion.
    assert (score.hits, score.substitutions, score.deletions, score.insertions) == (1, 4, 0, 1)
    assert score.wer == pytest.approx(1.0)


def test_accuracy_is_floored_at_zero_when_insertions_push_wer_above_one():
    score = score_file("yes", "no no no")
    assert score.wer == pytest.approx(3.0)
    assert score.accuracy == 0.0


def test_file_score_is_frozen():
    score = score_file("a b", "a b")
    assert isinstance(score, FileScore)
    with pytest.raises(AttributeError):
        score.wer = 1.0  # type: ignore[misc]


def test_whitespace_of_any_kind_separates_words():
    score = score_file("hello\nworld\tagain", "hello world  again", normalizer="none")
    assert score.reference == "hello world again"
    assert (score.ref_words, score.wer) == (3, 0.0)


# --- edge cases ---------------------------------------------------------------------------------


@pytest.mark.parametrize("reference", ["", "   \n", "...", "?!", "[noise] (laughs)", "um, uh. hmm"])
def test_empty_reference_after_normalization_raises(reference):
    with pytest.raises(EmptyReferenceError) as excinfo:
        score_file(reference, "some words")
    assert isinstance(excinfo.value, ScoringError)
    assert str(excinfo.value).startswith("reference is empty after normalization: WER is undefined")
    assert "'english'" in str(excinfo.value)


def test_empty_reference_message_truncates_long_references():
    with pytest.raises(EmptyReferenceError) as excinfo:
        score_file("." * 500, "")
    assert len(str(excinfo.value)) < 160


def test_punctuation_only_reference_is_a_word_without_normalization():
    score = score_file("...", "...", normalizer="none")
    assert (score.ref_words, score.wer) == (1, 0.0)


@pytest.mark.parametrize("hypothesis", ["", "  \t", "[inaudible] um"])
def test_empty_hypothesis_is_all_deletions(hypothesis):
    score = score_file("The cat sat.", hypothesis)
    assert score.hypothesis == ""
    assert (score.ref_words, score.hyp_words, score.hits) == (3, 0, 0)
    assert (score.substitutions, score.deletions, score.insertions) == (0, 3, 0)
    assert (score.wer, score.mer, score.wil, score.cer, score.accuracy) == (1.0, 1.0, 1.0, 1.0, 0.0)
    assert score.alignment == "REF: the cat sat\nHYP: *** *** ***\n       D   D   D"


def test_diacritics_are_ignored_by_english_and_counted_by_basic():
    english = score_file("café naïve in Zürich", "cafe naive in zurich")
    assert (english.wer, english.reference) == (0.0, "cafe naive in zurich")
    basic = score_file("café naïve in Zürich", "cafe naive in zurich", normalizer="basic")
    assert basic.reference == "café naïve in zürich"
    assert (basic.substitutions, basic.wer) == (3, pytest.approx(3 / 4))


def test_composed_and_decomposed_accents_match_once_normalized():
    composed, decomposed = "caf\u00e9", "cafe\u0301"
    assert score_file(composed, decomposed, normalizer="basic").wer == 0.0
    assert score_file(composed, decomposed, normalizer="english").wer == 0.0
    assert score_file(composed, decomposed, normalizer="none").wer == 1.0


def test_unspaced_cjk_is_one_word_so_cer_is_the_informative_measure():
    score = score_file("東京", "東京都")
    assert (score.ref_words, score.hyp_words, score.substitutions) == (1, 1, 1)
    assert score.wer == 1.0
    assert score.cer == pytest.approx(1 / 2)


def test_english_normalizer_conflates_japanese_voicing_on_both_sides():
    # で and て become the same character, so this (wrong) hypothesis scores as perfect.
    score = score_file("住んでいます", "住んています")
    assert (score.wer, score.cer) == (0.0, 0.0)
    assert score_file("住んでいます", "住んています", normalizer="basic").cer == pytest.approx(
        1 / 6
    )


def test_scoring_package_does_not_import_jiwer_for_the_lambda():
    code = (
        "import sys, pipeline.scoring, pipeline.scoring.corpus; "
        "print(sorted(m for m in ('jiwer', 'whisper_normalizer') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- properties ---------------------------------------------------------------------------------

_words = st.lists(
    st.sampled_from(["the", "cat", "sat", "on", "a", "mat", "dog", "ran"]), max_size=12
)
_nonempty_words = _words.filter(bool)


@settings(max_examples=150, deadline=None)
@given(ref=_nonempty_words, hyp=_words, normalizer=st.sampled_from(NORMALIZER_NAMES))
def test_measures_are_consistent(ref, hyp, normalizer):
    score = score_file(" ".join(ref), " ".join(hyp), normalizer)
    assert score.ref_words == len(ref) == score.hits + score.substitutions + score.deletions
    assert score.hyp_words == len(hyp) == score.hits + score.substitutions + score.insertions
    assert score.wer >= 0
    assert score.wer == pytest.approx(score.errors / score.ref_words)
    assert 0 <= score.accuracy <= 1
    assert 0 <= score.mer <= 1
    assert 0 <= score.wil <= 1
    assert score.cer >= 0


@settings(max_examples=100, deadline=None)
@given(ref=_nonempty_words)
def test_identical_texts_score_perfectly(ref):
    text = " ".join(ref)
    score = score_file(text, text)
    assert (score.wer, score.mer, score.wil, score.cer, score.accuracy) == (0, 0, 0, 0, 1)
    assert score.errors == 0


@settings(max_examples=150, deadline=None)
@given(ref=st.text(max_size=40), hyp=st.text(max_size=40))
def test_arbitrary_unicode_either_scores_or_reports_an_empty_reference(ref, hyp):
    try:
        score = score_file(ref, hyp)
    except EmptyReferenceError:
        assert get_normalizer("english")(ref).split() == []
        return
    assert score.ref_words == score.hits + score.substitutions + score.deletions >= 1
    assert score.hyp_words == score.hits + score.substitutions + score.insertions
    assert 0 <= score.accuracy <= 1
