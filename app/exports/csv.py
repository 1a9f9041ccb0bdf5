"""CSV as open-data users need it: Excel in Japan (BOM, or CP932) and machines (plain, exact).

The first line is always the header; no preamble, no `="..."` guards; CRLF line ends
(RFC 4180). Text is written exactly, so the file reads back to the same values; with
excel_safe=true, text that a spreadsheet would run as a formula (it starts with =, +, -, @, a
tab or a carriage return: OWASP's CSV injection list) is written after a single quote, which
Excel shows as text. That is for a person opening the file; the bulk import keeps the quote.

With encoding=cp932 a character CP932 cannot hold (𠮷, ♥, ©, a control character...) is
refused before the first byte is sent: 422 naming the character, its row and its column, and
saying to download UTF-8 instead (API.md). Nothing is silently replaced: an open-data file
says what the data says, or nothing.
"""

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Query, Request
from pydantic import BaseModel, Field

from app.errors import InvalidInput

BOM = "\ufeff"


class Encoding(StrEnum):
    utf8 = "utf-8"
    cp932 = "cp932"


class HeaderLanguage(StrEnum):
    ja = "ja"
    en = "en"


class Format(StrEnum):
    json = "json"
    csv = "csv"


@dataclass(frozen=True)
class Column:
    """A column: its English and Japanese names, Frictionless type and what it means."""

    en: str
    ja: str
    type: str = "string"
    description: str = ""  # 日本語
    description_en: str = ""


@dataclass(frozen=True)
class CsvOptions:
    bom: bool
    encoding: Encoding
    header: HeaderLanguage
    excel_safe: bool = False


BOM_DOC = "Start UTF-8 with a byte order mark, so Excel reads it right."
ENCODING_DOC = "utf-8, or cp932 for older Japanese Excel."
HEADER_DOC = "Column names in Japanese (ja) or English (en)."
FORMAT_DOC = "json (default) or csv; `Accept: text/csv` works too."
EXCEL_SAFE_DOC = (
    "Write ' before text that starts with =, +, -, @, a tab or a carriage return, so that"
    " a spreadsheet shows it instead of running it as a formula (numbers stay numbers). For a"
    " file a person opens in Excel; the bulk import keeps the ', so use the default to edit"
    " and upload again."
)


async def csv_options(
    bom: Annotated[bool, Query(description=BOM_DOC)] = True,
    encoding: Annotated[Encoding, Query(description=ENCODING_DOC)] = Encoding.utf8,
    header: Annotated[HeaderLanguage, Query(description=HEADER_DOC)] = HeaderLanguage.ja,
    excel_safe: Annotated[bool, Query(description=EXCEL_SAFE_DOC)] = False,
) -> CsvOptions:
    return CsvOptions(bom=bom, encoding=encoding, header=header, excel_safe=excel_safe)


CsvOptionsDep = Annotated[CsvOptions, Depends(csv_options)]


class CsvQuery(BaseModel):
    """The format and CSV options of a read that answers JSON or CSV, as a query model
    (app/web/query.py): the same parameters as FORMAT_DOC and csv_options document."""

    format: Format | None = Field(default=None, description=FORMAT_DOC)
    bom: bool = Field(default=True, description=BOM_DOC)
    encoding: Encoding = Field(default=Encoding.utf8, description=ENCODING_DOC)
    header: HeaderLanguage = Field(default=HeaderLanguage.ja, description=HEADER_DOC)
    excel_safe: bool = Field(default=False, description=EXCEL_SAFE_DOC)

    @property
    def options(self) -> CsvOptions:
        return CsvOptions(
            bom=self.bom, encoding=self.encoding, header=self.header, excel_safe=self.excel_safe
        )


def wants_csv(request: Request, format: Format | None) -> bool:
    """CSV when `format=csv`, or when Accept prefers text/csv to JSON (RFC 9110 12.5.1:
    q-values, `*/*` and `application/*` count for JSON; a tie goes to JSON, the default)."""
    if format is not None:
        return format is Format.csv
    return _quality(request.headers.get("accept", ""), "text", "csv") > _quality(
        request.headers.get("accept", ""), "application", "json"
    )


def _quality(accept: str, kind: str, subtype: str) -> float:
    """How much an Accept value wants kind/subtype: the q of its most specific match, 0 for
    none (an empty or absent Accept is `*/*`, which the tie above gives to JSON)."""
    best, found = -1, 0.0
    for item in accept.split(",") if accept.strip() else ["*/*"]:
        name, *params = (part.strip() for part in item.split(";"))
        wanted_kind, _, wanted_subtype = name.lower().partition("/")
        if wanted_kind not in (kind, "*") or wanted_subtype not in (subtype, "*"):
            continue
        specific = (wanted_kind == kind) + (wanted_subtype == subtype)
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    quality = 0.0
        if specific > best:
            best, found = specific, quality
    return found


def cell(value: Any) -> str:
    """Write a value as plain CSV text that reads back to the same value."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Decimal):
        return f"{value:f}"
    return str(value)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def excel_safe(value: Any, text: str) -> str:
    """The cell's text, after a ' when the value is text a spreadsheet would run as a formula
    (a number, -1.5 too, stays as it is)."""
    return "'" + text if isinstance(value, str) and text.startswith(FORMULA_STARTS) else text


def check_cp932(
    texts: Sequence[str], columns: Sequence[Column], number: int, language: HeaderLanguage
) -> None:
    """Refuse (422) a data row (number, 1-based) with a character CP932 cannot hold,
    naming the character, the row and the column."""
    for text, column in zip(texts, columns, strict=True):
        try:
            text.encode("cp932")
        except UnicodeEncodeError as error:
            char = text[error.start]
            raise InvalidInput.at(
                ["query", "encoding"],
                f"CP932 cannot hold {char!r} (U+{ord(char):04X}), in row {number} (line"
                f" {number + 1}), column {getattr(column, language.value)}: download with"
                " encoding=utf-8 instead, which Excel opens as well (with the BOM, the"
                " default)",
                "cp932_unencodable",
            ) from None


def csv_cells(values: Sequence[Any], options: CsvOptions) -> list[str]:
    """A row's cells as CSV text."""
    texts = [cell(value) for value in values]
    if options.excel_safe:
        texts = [excel_safe(value, text) for value, text in zip(values, texts, strict=True)]
    return texts


class CsvText:
    """Rows written as CSV (the header first, a BOM when asked for in UTF-8), taken out as
    bytes in the answer's encoding, all at once or a chunk at a time.

    Each chunk is encoded once. Only when CP932 cannot hold it are its rows looked at cell by
    cell, to name the first character at fault, its row and its column (422)."""

    def __init__(self, columns: Sequence[Column], options: CsvOptions) -> None:
        self.columns = columns
        self.options = options
        self._encoding = "cp932" if options.encoding is Encoding.cp932 else "utf-8"
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")
        self._pending: list[list[str]] = []  # the rows not taken yet (CP932 only)
        self._taken = 0  # rows taken out already
        if options.bom and options.encoding is Encoding.utf8:
            self._buffer.write(BOM)
        self._writer.writerow([getattr(column, options.header.value) for column in columns])

    def add(self, values: Sequence[Any]) -> None:
        texts = csv_cells(values, self.options)
        self._writer.writerow(texts)
        if self.options.encoding is Encoding.cp932:
            self._pending.append(texts)

    def take(self) -> bytes:
        """The text written since the last take, encoded; 422 for a row CP932 cannot hold."""
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        try:
            encoded = text.encode(self._encoding)
        except UnicodeEncodeError:
            for offset, texts in enumerate(self._pending, start=self._taken + 1):
                check_cp932(texts, self.columns, offset, self.options.header)
            raise
        self._taken += len(self._pending)
        self._pending.clear()
        return encoded


def render_csv(
    columns: Sequence[Column], rows: Iterable[Sequence[Any]], options: CsvOptions
) -> bytes:
    """Return the whole CSV (for answers small enough to hold, like statistics)."""
    out = CsvText(columns, options)
    for row in rows:
        out.add(row)
    return out.take()


def media_type(options: CsvOptions) -> str:
    charset = "Windows-31J" if options.encoding is Encoding.cp932 else "utf-8"
    return f"text/csv; charset={charset}; header=present"


def content_disposition(filename: str) -> str:
    """Name the download, in ASCII for old clients and in UTF-8 (RFC 6266) for the rest."""
    fallback = filename.encode("ascii", "replace").decode("ascii").replace("?", "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"
