import re
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.wareki import (
    FiscalYearError,
    fiscal_year_label,
    fiscal_year_pattern,
    parse_fiscal_year,
    period_label,
)

TODAY = date(2026, 11, 28)


@pytest.mark.parametrize(
    ("written", "year"),
    [
        (2024, 2024),
        ("2024", 2024),
        ("２０２４", 2024),
        ("2024年度", 2024),
        ("R6", 2024),
        ("r6", 2024),
        ("Ｒ６", 2024),
        ("H30", 2018),
        ("h30", 2018),
        ("令和6", 2024),
        ("令和6年度", 2024),
        ("令和６年度", 2024),
        (" 令和6年度 ", 2024),
        ("\t令和6年度\u3000", 2024),
        ("R06", 2024),
        ("Ｈ３０年度", 2018),
        ("㍻30", 2018),
        ("２０２４年度", 2024),
        ("令和元年度", 2019),
        ("令和元", 2019),
        ("R1", 2019),
        ("平成30年度", 2018),
        ("平成31年度", 2019),
        ("H31", 2019),
        ("平成元年度", 1989),
        ("H1", 1989),
        ("㋿6", 2024),
        ("㋿元年度", 2019),
    ],
)
def test_every_accepted_form_parses(written: int | str, year: int) -> None:
    assert parse_fiscal_year(written, today=TODAY) == year


@pytest.mark.parametrize(
    "written",
    [
        "R0",
        "令和0年度",
        "令和99年度",
        "abc",
        "",
        "R",
        "令和",
        "20245",
        "24",
        "平成32年度",
        "H0",
        "R6-7",
        "6年度",
        "令和 6 年度",
        "R 6",
        "2 024",
        "FY2024",
        "R006",
        "R٦",
        "R①",
        "R6\n",
        True,
    ],
)
def test_nonsense_is_rejected(written: int | str) -> None:
    with pytest.raises(FiscalYearError):
        parse_fiscal_year(written, today=TODAY)


@pytest.mark.parametrize(
    "written", [1988, "1988", "昭和63年度", "S63", "昭和64年度", "S64", "平成0年度"]
)
def test_years_before_heisei_are_out_of_range(written: int | str) -> None:
    with pytest.raises(FiscalYearError):
        parse_fiscal_year(written, today=TODAY)


@pytest.mark.parametrize("written", [2036, "2036", "R18", "令和18年度"])
def test_the_last_accepted_year_is_ten_years_ahead(written: int | str) -> None:
    assert parse_fiscal_year(written, today=TODAY) == 2036


@pytest.mark.parametrize("written", [2037, "2037", "R19", "令和19年度", "㋿19"])
def test_years_beyond_ten_years_ahead_are_rejected_however_written(written: int | str) -> None:
    with pytest.raises(FiscalYearError, match="2037"):
        parse_fiscal_year(written, today=TODAY)


def test_the_error_says_how_to_write_a_year() -> None:
    with pytest.raises(FiscalYearError, match="令和6年度"):
        parse_fiscal_year("abc", today=TODAY)


@pytest.mark.parametrize(
    ("year", "label"),
    [
        (2024, "令和6年度"),
        (2019, "令和元年度"),
        (2020, "令和2年度"),
        (2018, "平成30年度"),
        (1990, "平成2年度"),
        (1989, "平成元年度"),
    ],
)
def test_labels_use_the_era_of_the_fiscal_year(year: int, label: str) -> None:
    assert fiscal_year_label(year) == label
    assert parse_fiscal_year(label, today=TODAY) == year


def test_period_label_joins_two_labels() -> None:
    assert period_label(2023, 2026) == "令和5年度～令和8年度"


# The OpenAPI schema gives the string form of a fiscal year as a pattern: every string it
# matches must be accepted, and every string accepted must match it, the range included.
PATTERN = re.compile(fiscal_year_pattern(TODAY).removesuffix("$") + r"\Z")
PIECES = [
    *"0123456789０１２３４５６７８９RrＲｒHhＨｈSsFfYy元年度 \t\u3000-٦①",
    "令和",
    "平成",
    "昭和",
    "㋿",
    "㍻",
]


@given(st.from_regex(PATTERN))
def test_every_string_the_schema_allows_is_accepted(written: str) -> None:
    year = parse_fiscal_year(written, today=TODAY)
    assert 1989 <= year <= TODAY.year + 10


@given(st.lists(st.sampled_from(PIECES), max_size=8).map("".join))
def test_what_is_accepted_is_what_the_schema_allows(written: str) -> None:
    try:
        parse_fiscal_year(written, today=TODAY)
    except FiscalYearError:
        assert PATTERN.search(written) is None
    else:
        assert PATTERN.search(written) is not None


@pytest.mark.parametrize("written", ["R6", "令和元年度", "2036", "H31", "1989", "㋿18"])
def test_the_documented_forms_match_the_schema(written: str) -> None:
    assert PATTERN.search(written)
