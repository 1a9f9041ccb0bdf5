from datetime import date

import pytest

from app.wareki import FiscalYearError, fiscal_year_label, parse_fiscal_year, period_label

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
        (" 令和 6 年度 ", 2024),
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
        True,
    ],
)
def test_nonsense_is_rejected(written: int | str) -> None:
    with pytest.raises(FiscalYearError):
        parse_fiscal_year(written, today=TODAY)


@pytest.mark.parametrize("written", [1988, "1988", "昭和63年度", "S63", "平成0年度"])
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
