import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.text import (
    code_fiscal_year,
    fold,
    like_pattern,
    natural_sort_key,
    normalize_code,
    search_fold,
    search_key,
    search_words,
)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("（1）", "(1)"),
        ("⑴", "(1)"),
        ("ＤＸ", "dx"),
        ("DX", "dx"),
        ("№.R6-7", "no.r6-7"),
        ("R6‐7", "r6-7"),  # U+2010 hyphen
        ("R6－7", "r6-7"),  # full-width hyphen-minus
        ("R6−7", "r6-7"),  # minus sign
        ("  通学路\u3000マップ ", "通学路 マップ"),
    ],
)
def test_fold_makes_equivalent_writings_equal(a: str, b: str) -> None:
    assert fold(a) == fold(b)


def test_fold_keeps_the_long_vowel_mark_of_katakana() -> None:
    assert fold("データ") == "データ"


def test_search_key_puts_each_field_on_its_own_line() -> None:
    assert search_key("R6-7", "公用車", None, "") == "r6-7\n公用車"


@pytest.mark.parametrize(
    ("a", "b"),
    [("カード", "かーど"), ("ｶｰﾄﾞ", "かーど"), ("ヴァ", "ゔぁ"), ("ヶ所", "ゖ所"), ("ヽヾ", "ゝゞ")],
)
def test_search_fold_writes_katakana_as_hiragana(a: str, b: str) -> None:
    assert search_fold(a) == search_fold(b) == b


def test_search_fold_leaves_other_scripts_alone() -> None:
    assert search_fold("デジタル市民パスポートＤＸ") == "でじたる市民ぱすぽーとdx"


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("デジタル 市民", ["でじたる", "市民"]),
        ("デジタル\u3000市民", ["でじたる", "市民"]),
        ("  ＤＸ　　dx  車 ", ["dx", "車"]),
        ("", []),
        ("\u3000", []),
    ],
)
def test_search_words_split_on_any_space_and_keep_each_once(query: str, words: list[str]) -> None:
    assert search_words(query) == words


@pytest.mark.parametrize(
    ("word", "pattern"),
    [("dx", "%dx%"), ("10%", "%10\\%%"), ("a_b", "%a\\_b%"), ("a\\b", "%a\\\\b%")],
)
def test_like_pattern_escapes_wildcards(word: str, pattern: str) -> None:
    assert like_pattern(word) == pattern


@pytest.mark.parametrize(
    ("written", "stored"),
    [("Ｒ６－７", "R6-7"), (" R6-7 ", "R6-7"), ("R6‐7", "R6-7"), ("A" * 32, "A" * 32)],
)
def test_codes_are_stored_after_nfkc(written: str, stored: str) -> None:
    assert normalize_code(written) == stored


@pytest.mark.parametrize("written", ["", "-R6", "R6 7", "R6_7", "R6-7'", "A" * 33, "№.R6-7"])
def test_codes_outside_the_pattern_are_rejected(written: str) -> None:
    with pytest.raises(ValueError):
        normalize_code(written)


@pytest.mark.parametrize(
    ("code", "year"),
    [("R6-7", 2024), ("r7-1", 2025), ("R1-1", 2019), ("X-1", None), ("R0-1", None)],
)
def test_code_fiscal_year(code: str, year: int | None) -> None:
    assert code_fiscal_year(code) == year


def test_natural_sort_orders_numbers_by_value() -> None:
    codes = ["R7-1", "R6-10", "R6-7", "R6-34", "R6-100", "A-2"]
    assert sorted(codes, key=natural_sort_key) == [
        "A-2",
        "R6-7",
        "R6-10",
        "R6-34",
        "R6-100",
        "R7-1",
    ]


def _folded_as_defined(text: str) -> str:
    """fold's definition, step by step: NFKC, casefold, hyphen-like as "-", spaces as one,
    katakana as hiragana (the translation search_fold adds)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    folded = re.sub("[\u2010-\u2015\u2212\u2043\u02d7\u2796\ufe58\ufe63\uff0d]", "-", folded)
    folded = re.sub(r"\s+", " ", folded).strip()
    kana = {code: code - 0x60 for code in range(0x30A1, 0x30F7)} | {0x30FD: 0x309D, 0x30FE: 0x309E}
    return folded.translate(kana)


# Characters around the shortcuts search_fold takes: full-width ASCII, half-width and
# full-width katakana, combining voiced marks, ヷ and its parts, ideographs, compatibility
# forms, spaces.
AROUND_THE_SHORTCUTS = st.text(
    st.sampled_from(
        [
            *map(chr, range(0xFF00, 0xFFA0)),
            *map(chr, range(0x3040, 0x3100)),
            "\u3099",
            "\u309a",
            "\u0301",
            "ヷ",
            "ワ",
            "Ａ",
            "A",
            "é",
            "市",
            "⑴",
            "№",
            "㍻",
            "ß",
            " ",
            "\u3000",
            "\u2212",
        ]
    ),
    max_size=12,
)


@settings(max_examples=2000, deadline=None)
@given(AROUND_THE_SHORTCUTS)
def test_search_fold_is_its_definition(text: str) -> None:
    assert search_fold(text) == _folded_as_defined(text)
