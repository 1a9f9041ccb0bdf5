"""Messages of bulk validation, in English or Japanese (Accept-Language: ja)."""

from collections.abc import Callable
from typing import Any

Text = Callable[..., str]

MESSAGES: dict[str, tuple[str, str]] = {
    "json_invalid": (
        "the body is not valid JSON: {error}",
        "本文が JSON として読めません: {error}",
    ),
    "json_shape": (
        'the body must be {{"items": [...]}}',
        '本文は {{"items": [...]}} の形にしてください',
    ),
    "row_not_object": ("each item must be an object", "各行はオブジェクトにしてください"),
    "charset": (
        "charset {charset!r} is not supported: use utf-8 or cp932 (Shift_JIS)",
        "文字コード {charset!r} には対応していません（utf-8 または cp932）",
    ),
    "not_encoded": (
        "the body is not valid {charset}",
        "本文が {charset} として読めません",
    ),
    "unknown_encoding": (
        "the body is neither UTF-8 nor CP932",
        "本文が UTF-8 でも CP932 でもありません",
    ),
    "csv_empty": ("the CSV has no header line", "CSV に見出し行がありません"),
    "csv_invalid": ("the CSV cannot be read: {error}", "CSV を読めません: {error}"),
    "xlsx_invalid": (
        "the body is not an .xlsx workbook that can be read: {error}",
        "本文を .xlsx のブックとして読めません: {error}",
    ),
    "xlsx_empty": (
        "the workbook's first sheet has no header row",
        "ブックの最初のシートに見出し行がありません",
    ),
    "xlsx_too_large": (
        "the workbook unpacks to more than {limit:,} bytes",
        "ブックを展開すると {limit:,} バイトを超えます",
    ),
    "form_file": (
        "send the file as one file field of the form (named file), .csv, .xlsx or .json",
        "ファイルはフォームのファイル欄（file）1 つで送ってください（.csv / .xlsx / .json）",
    ),
    "form_kind": (
        "cannot tell the file's kind from {name!r} ({media}): name it .csv, .xlsx or .json",
        "{name!r}（{media}）の種類が分かりません。拡張子を .csv / .xlsx / .json にしてください",
    ),
    "unknown_columns": (
        "unknown columns: {columns}; known: {known}",
        "不明な列があります: {columns}（使える列: {known}）",
    ),
    "duplicate_columns": ("a column appears twice", "同じ列が 2 回あります"),
    "cell_count": (
        "line {line} has {found} cells, the header {expected}",
        "{line} 行目のセル数が {found} で、見出しの {expected} と合いません",
    ),
    "rows_invalid": (
        "{count} row(s) are invalid; nothing was written",
        "{count} 行に誤りがあります。何も書き込んでいません",
    ),
    "duplicate_key": (
        "{key} appears in rows {rows}: each may appear once",
        "{key} が {rows} 行目に重複しています",
    ),
    "mismatch": (
        "{field} is {given!r} but the plan's is {expected!r}",
        "{field} が {given!r} ですが、計画の値は {expected!r} です",
    ),
    "label_mismatch": (
        "fiscal_year_label {given!r} does not match fiscal year {year} ({expected})",
        "年度（和暦）{given!r} が年度 {year}（{expected}）と合いません",
    ),
    "no_measure": (
        "no measure {policy}-{measure} (policy-measure number) in this plan",
        "この計画に施策 {policy}-{measure}（基本方針番号-施策番号）がありません",
    ),
    "measure_other_plan": (
        "measure {measure_id} is not a measure of this plan",
        "施策ID {measure_id} はこの計画の施策ではありません",
    ),
    "measure_numbers_pair": (
        "give policy_number and measure_number together",
        "基本方針番号と施策番号は両方指定してください",
    ),
    "measure_disagree": (
        "measure_id {measure_id} is not measure {policy}-{measure}",
        "施策ID {measure_id} は施策 {policy}-{measure} ではありません",
    ),
    "new_needs": (
        "a new initiative needs {fields}",
        "新しい取組事項には {fields} が必要です",
    ),
    "year_disagree": (
        "code {code} is of fiscal year {from_code}, not {given}",
        "取組番号 {code} の年度は {from_code} で、{given} ではありません",
    ),
    "year_missing": (
        "code {code} does not name a fiscal year (as R6-… does): give fiscal_year",
        "取組番号 {code} から年度が分かりません。年度を指定してください",
    ),
    "no_initiative": (
        "no initiative {code} in this plan",
        "この計画に取組番号 {code} の取組事項がありません",
    ),
    "outside_period": (
        "{label} is outside the plan's period {period}",
        "{label} は計画の推進期間 {period} の外です",
    ),
    "before_initiative": (
        "{label} is before {listed}, the fiscal year of initiative {code}:"
        " it has no evaluation for an earlier year",
        "{label} は取組番号 {code} の年度 {listed} より前です。"
        "それより前の年度の評価は登録できません",
    ),
    "evaluations_before": (
        "initiative {code} has {count} evaluation(s) for years before {label}:"
        " its fiscal year cannot move past them",
        "取組番号 {code} には {label} より前の年度の評価が {count} 件あります。"
        "年度をそれより後にはできません",
    ),
    "number_too_long": (
        "a number of {digits:,} digits: no field takes a number that long",
        "{digits:,} 桁の数値です。これほど長い数値を取る項目はありません",
    ),
    "not_null": ("{field} may not be empty", "{field} は空にできません"),
    "conflict": (
        "rows changed while this request ran; nothing was written: send it again",
        "処理中に他の更新がありました。何も書き込んでいません。もう一度送信してください",
    ),
}

# Pydantic's error types, for the Japanese messages of field validation.
PYDANTIC_JA: dict[str, str] = {
    "missing": "必須です",
    "extra_forbidden": "不明な項目です",
    "int_parsing": "整数を入力してください",
    "int_type": "整数を入力してください",
    "float_parsing": "数値を入力してください",
    "float_type": "数値を入力してください",
    "finite_number": "有限の数値を入力してください",
    "bool_parsing": "true か false を入力してください",
    "string_type": "文字列を入力してください",
    "greater_than_equal": "値が小さすぎます",
    "less_than_equal": "値が大きすぎます",
    "enum": "選べる値ではありません",
}


def wants_japanese(accept_language: str | None) -> bool:
    """Whether Accept-Language prefers Japanese over English (by q-value, then order)."""
    best: tuple[float, int, str] | None = None
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        language = tag.strip().lower().split("-")[0]
        if language in ("ja", "en") and (best is None or (quality, -position) > best[:2]):
            best = (quality, -position, language)
    return best is not None and best[2] == "ja"


def translator(japanese: bool) -> Text:
    def text(message: str, /, **values: Any) -> str:
        english, japanese_text = MESSAGES[message]
        return (japanese_text if japanese else english).format(**values)

    return text
