"""Reading a bulk body: JSON `{"items": [...]}` or CSV (UTF-8 with or without BOM, or CP932)
into rows of raw values keyed by the English column names."""

import csv
import io
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from app.bulk.messages import Text
from app.errors import ErrorDetail, InvalidInput, PayloadTooLarge
from app.exports.csv import Column
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
    line = reader.line_num + 1
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                line = reader.line_num + 1
                continue  # blank lines, e.g. at the end of a file saved by Excel
            if len(rows) >= MAX_ROWS:
                raise _too_many(len(rows) + 1 + sum(1 for _ in reader))
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
            line = reader.line_num + 1
    except csv.Error as error:
        raise InvalidInput.at(["body"], text("csv_invalid", error=str(error))) from None
    return rows
