"""Text keys: what we store for display stays as given; search and sorting use derived keys."""

import re
import unicodedata

# Hyphens, dashes and minus signs people type for "-" (NFKC leaves most of them alone).
_HYPHEN_LIKE = re.compile("[\u2010-\u2015\u2212\u2043\u02d7\u2796\ufe58\ufe63\uff0d]")
_SPACES = re.compile(r"\s+")
_DIGITS = re.compile(r"\d+")
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,31}")
_CODE_YEAR = re.compile(r"R(\d{1,2})-", re.IGNORECASE)
# Katakana (ァ..ヶ, ヽ, ヾ) and their hiragana (ぁ..ゖ, ゝ, ゞ) lie 0x60 apart; ー stays.
_KATAKANA = re.compile("[\u30a1-\u30f6\u30fd\u30fe]+")
_KATAKANA_TO_HIRAGANA = {code: code - 0x60 for code in range(0x30A1, 0x30F7)} | {
    0x30FD: 0x309D,
    0x30FE: 0x309E,
}
# Full-width ASCII (！..～), which NFKC makes ASCII one character each.
_FULL_WIDTH = re.compile("[\uff01-\uff5e]+")
_FULL_WIDTH_TO_ASCII = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}

CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]{0,31}$"


def fold(text: str) -> str:
    """Return the search form of text: NFKC, casefolded, hyphen-like folded, spaces collapsed.

    NFKC makes （1）, (1) and ⑴ all "(1)", ＤＸ "DX" and № "No".
    """
    # The same as normalize("NFKC", text), sooner: Japanese text is NFKC already but for
    # its full-width letters, digits and brackets, and normalize() takes the slow way for a
    # whole text with any of them (9 µs for a line of a bulk upload instead of 5). Made
    # ASCII first, the text mostly passes is_normalized's quick check; what does not is
    # normalized as before, with the same result (NFKC of a full-width character is its
    # ASCII one, and NFKC reads a text as the NFKC of each character, recomposed).
    text = _FULL_WIDTH.sub(_ascii, text)
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    folded = _HYPHEN_LIKE.sub("-", text.casefold())
    return _SPACES.sub(" ", folded).strip()


def _ascii(run: re.Match[str]) -> str:
    return run[0].translate(_FULL_WIDTH_TO_ASCII)


def _hiragana(run: re.Match[str]) -> str:
    return run[0].translate(_KATAKANA_TO_HIRAGANA)


def search_fold(text: str) -> str:
    """Return fold(text) with katakana written as hiragana: people type either (かーど finds
    カード, ｶｰﾄﾞ too, since NFKC makes half-width katakana full-width first)."""
    return _KATAKANA.sub(_hiragana, fold(text))  # only the katakana runs, not every character


def search_key(*parts: str | None) -> str:
    """Return the stored search key of several fields (a line each, so no match spans two)."""
    return "\n".join(search_fold(part) for part in parts if part)


def search_words(query: str) -> list[str]:
    """Return the words of a query in search form, each once: spaces (half- or full-width)
    separate words, and every word must be found (app/search/match.py)."""
    return list(dict.fromkeys(word for word in search_fold(query).split(" ") if word))


def like_pattern(word: str) -> str:
    """Return a LIKE pattern (escape character backslash) that finds a word of
    search_words() inside a key: % and _ stay literal."""
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def normalize_code(value: str) -> str:
    """Return an initiative code in stored form (Ｒ６－７ -> R6-7), or raise ValueError."""
    code = _HYPHEN_LIKE.sub("-", unicodedata.normalize("NFKC", value).strip())
    if not _CODE.fullmatch(code):
        raise ValueError(
            "a code is 1-32 letters, digits and hyphens, starting with a letter or digit"
        )
    return code


def code_fiscal_year(code: str) -> int | None:
    """Return the fiscal year a code of the form R<n>-... names (R6-7 -> 2024), else None."""
    match = _CODE_YEAR.match(code)
    return 2018 + int(match[1]) if match and int(match[1]) > 0 else None


def natural_sort_key(code: str) -> str:
    """Return a key that sorts codes naturally (R6-7 before R6-10) with plain string order."""
    return _DIGITS.sub(lambda m: m[0].lstrip("0").rjust(10, "0"), fold(code))
