"""Reading a bulk body: JSON `{"items": [...]}`, CSV (UTF-8 with or without BOM, or CP932) or
an .xlsx workbook, into rows of raw values keyed by the English column names."""

import csv
import io
import json
import re
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from openpyxl import load_workbook

from app.bulk.messages import Text
from app.errors import ErrorDetail, InvalidInput, PayloadTooLarge
from app.exports.csv import Column, cell
from app.web.jsonbody import LongNumber, read_int, strict_json

MAX_ROWS = 10_000


@dataclass(frozen=True)
class RawRow:
    index: int  # 0-based, in the order sent
    line: int | None  # CSV line where the row starts (the header is line 1)
    values: dict[str, Any]


def _too_many(count: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"{count:,} rows: at most {MAX_ROWS:,} rows per request; split the upload"
    )


def parse_json(body: bytes, text: Text) -> list[RawRow]:
    try:
        # Strict (a member twice, nesting too deep: 422, app/web/jsonbody.py), but an integer
        # too long stays a LongNumber, which the row's validation names.
        document = strict_json(body, numbers=False)
    except (ValueError, RecursionError) as error:  # JSONDecodeError, UnicodeDecodeError
        raise InvalidInput.at(["body"], text("json_invalid", error=str(error))) from None
    items = document.get("items") if isinstance(document, dict) else None
    if not isinstance(items, list) or set(document) != {"items"}:
        raise InvalidInput.at(["body"], text("json_shape"))
    if len(items) > MAX_ROWS:
        raise _too_many(len(items))
    rows = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            message = text("row_not_object")
            detail = ErrorDetail(loc=[index], msg=message, type="row_type", row=index)
            raise InvalidInput(message, errors=[detail])
        rows.append(RawRow(index, None, item))
    return rows


def decode_csv(body: bytes, charset: str | None, text: Text) -> str:
    """Decode as declared; undeclared, UTF-8 (BOM or not), else CP932 (Excel in Japan)."""
    if charset:
        name = charset.strip().strip('"').lower()
        encoding = {
            "utf-8": "utf-8-sig",
            "utf8": "utf-8-sig",
            "shift_jis": "cp932",
            "windows-31j": "cp932",
            "cp932": "cp932",
            "ms932": "cp932",
        }.get(name)
        if encoding is None:
            raise InvalidInput.at(["header", "content-type"], text("charset", charset=charset))
        try:
            return body.decode(encoding)
        except UnicodeDecodeError:
            raise InvalidInput.at(["body"], text("not_encoded", charset=charset)) from None
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return body.decode("cp932")
        except UnicodeDecodeError:
            raise InvalidInput.at(["body"], text("unknown_encoding")) from None


TRUE = {"true", "1", "yes", "はい", "○"}
FALSE = {"false", "0", "no", "いいえ", "×"}


def typed(cell: str, kind: str) -> Any:
    """A CSV cell as the value its column holds: empty is null; a number or a flag when it
    reads as one (else the text, which validation then refuses with a clear message; an
    integer too long to read is a LongNumber, which it names as such)."""
    text = unicodedata.normalize("NFKC", cell).strip()
    if text == "":
        return None
    whole = re.fullmatch(r"[+-]?\d+", text) is not None
    if kind == "integer" and whole:
        return read_int(text)
    if kind == "number":
        if whole and isinstance(number := read_int(text), LongNumber):
            return number  # as in JSON, not float's inf ("should be a finite number")
        try:
            return float(text.replace(",", ""))
        except ValueError:
            return cell
    if kind == "boolean" and text.casefold() in TRUE | FALSE:
        return text.casefold() in TRUE
    if kind == "object":  # a JSON object in a cell (a provenance map)
        try:
            return json.loads(cell)
        except ValueError:
            return cell
    return cell


def parse_csv(body: bytes, charset: str | None, columns: list[Column], text: Text) -> list[RawRow]:
    """Return the rows; a header names columns in Japanese or English (any other → 422)."""
    reader = csv.reader(io.StringIO(decode_csv(body, charset, text), newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise InvalidInput.at(["body"], text("csv_empty")) from None
    except csv.Error as error:
        raise InvalidInput.at(["body"], text("csv_invalid", error=str(error))) from None

    def lines() -> Iterator[tuple[int, list[str]]]:
        line = reader.line_num + 1
        for cells in reader:
            yield line, cells
            line = reader.line_num + 1

    try:
        return _table(header, lines(), columns, text)
    except csv.Error as error:
        raise InvalidInput.at(["body"], text("csv_invalid", error=str(error))) from None


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A workbook is a zip: what it may unpack to is bounded before anything is read (a small
# body can unpack to gigabytes).
XLSX_UNPACKED_LIMIT = 256 * 1024 * 1024


def parse_xlsx(body: bytes, columns: list[Column], text: Text) -> list[RawRow]:
    """The rows of the first sheet of a workbook as /export/*.xlsx gives it, edited in Excel
    or LibreOffice: the header in row 1, the same columns and rules as a CSV, and each row
    named by its number in the sheet."""
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
        if unpacked > XLSX_UNPACKED_LIMIT:
            raise InvalidInput.at(["body"], text("xlsx_too_large", limit=XLSX_UNPACKED_LIMIT))
        workbook = load_workbook(io.BytesIO(body), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as error:
        raise InvalidInput.at(
            ["body"], text("xlsx_invalid", error=str(error) or type(error).__name__)
        ) from None
    try:
        sheet = workbook.worksheets[0]
        cells = sheet.iter_rows(values_only=True)
        header = [_cell_text(value) for value in next(cells, ())]
        while header and header[-1] == "":
            header.pop()  # cells a spreadsheet keeps formatted to the right of the table
        if not header:
            raise InvalidInput.at(["body"], text("xlsx_empty"))

        def lines() -> Iterator[tuple[int, list[str]]]:
            for number, values in enumerate(cells, start=2):
                row = [_cell_text(value) for value in values]
                row += [""] * (len(header) - len(row))
                if any(row[len(header) :]):
                    yield number, row  # a cell beyond the header: the cell count says so
                else:
                    yield number, row[: len(header)]

        return _table(header, lines(), columns, text)
    finally:
        workbook.close()


def _cell_text(value: Any) -> str:
    """A cell as the text a CSV would hold (as the CSV export writes it), so that both are
    read by the same rules; a date Excel keeps as a midnight date-time is the date."""
    if isinstance(value, datetime) and value.time() == time():
        value = value.date()
    return cell(value)


def _table(
    header: list[str],
    lines: Iterator[tuple[int, list[str]]],
    columns: list[Column],
    text: Text,
) -> list[RawRow]:
    """Rows of values from a header and numbered lines of cells (a CSV's or a sheet's)."""
    names = {column.ja: column.en for column in columns} | {c.en: c.en for c in columns}
    unknown = [name for name in header if name.strip() not in names]
    if unknown:
        raise InvalidInput.at(
            ["body", "header"],
            text("unknown_columns", columns=", ".join(unknown), known=", ".join(names)),
        )
    fields = [names[name.strip()] for name in header]
    kinds = {column.en: column.type for column in columns}
    if len(set(fields)) != len(fields):
        raise InvalidInput.at(["body", "header"], text("duplicate_columns"))
    rows: list[RawRow] = []
    for line, cells in lines:
        if not any(cell.strip() for cell in cells):
            continue  # blank lines, e.g. at the end of a file saved by Excel
        if len(rows) >= MAX_ROWS:
            raise _too_many(len(rows) + 1 + sum(1 for _ in lines))
        if len(cells) != len(fields):
            message = text("cell_count", line=line, found=len(cells), expected=len(fields))
            detail = ErrorDetail(
                loc=[len(rows)], msg=message, type="csv_cells", row=len(rows), line=line
            )
            raise InvalidInput(message, errors=[detail])
        values = {
            field: typed(cell, kinds[field]) for field, cell in zip(fields, cells, strict=True)
        }
        rows.append(RawRow(len(rows), line, values))
    return rows
