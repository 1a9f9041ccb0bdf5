"""Streamed writers: rows go out as they are read, so memory stays flat whatever the size."""

import json
import os
import tempfile
from collections.abc import Generator, Iterator
from contextlib import closing
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy import Engine
from sqlmodel import Session

from app.errors import InvalidInput
from app.exports.csv import CsvOptions, CsvText, HeaderLanguage
from app.exports.tables import Export
from app.fields import jsonable

BATCH = 1000
XLSX_MAX_ROWS = 1_048_575  # Excel's limit, less the header row
LONG_TEXT = {"title", "description", "result", "source", "philosophy", "attribution", "focus"}


def rows(
    engine: Engine, export: Export, plan_id: int | None, language: HeaderLanguage
) -> Generator[list[Any], None, None]:
    """Yield the export's rows in order, reading BATCH rows at a time."""
    with Session(engine) as session:
        result = session.execute(
            export.query(plan_id).execution_options(yield_per=BATCH, stream_results=True)
        )
        try:
            for row in result.mappings():
                yield export.values(row, language)
        finally:
            # A reader that stops early (a refusal, a client gone) must not leave the
            # server-side cursor open.
            result.close()


def stream_csv(
    engine: Engine, export: Export, plan_id: int | None, options: CsvOptions
) -> Generator[bytes, None, None]:
    """Yield the CSV, BATCH rows a chunk (in CP932, 422 at a row it cannot hold)."""
    out = CsvText(export.columns, options)
    for count, values in enumerate(rows(engine, export, plan_id, options.header), start=1):
        out.add(values)
        if count % BATCH == 0:
            yield out.take()
    yield out.take()


def write_csv(engine: Engine, export: Export, plan_id: int | None, options: CsvOptions) -> str:
    """Write the CSV into a temporary file; return its path.

    For CP932: a row it cannot hold is refused (422) before the first byte is sent, so the
    file is written first, in one read of the rows, and sent only when every row fits.
    """
    handle = tempfile.NamedTemporaryFile(suffix=".csv", delete=False)  # noqa: SIM115
    try:
        with handle, closing(stream_csv(engine, export, plan_id, options)) as chunks:
            for chunk in chunks:
                handle.write(chunk)
    except BaseException:
        os.unlink(handle.name)
        raise
    return handle.name


def stream_json(engine: Engine, export: Export, plan_id: int | None) -> Iterator[bytes]:
    """Yield a JSON array of objects keyed by the English column names, BATCH rows a chunk."""
    names = [column.en for column in export.columns]
    # A map a CSV cell holds as JSON text (a provenance map) is an object here.
    objects = {column.en for column in export.columns if column.type == "object"}
    parts = ["["]
    for count, values in enumerate(rows(engine, export, plan_id, HeaderLanguage.en)):
        record = {name: jsonable(value) for name, value in zip(names, values, strict=True)}
        for name in objects & record.keys():
            if isinstance(record[name], str):
                record[name] = json.loads(record[name])
        parts.append(("\n" if count == 0 else ",\n") + json.dumps(record, ensure_ascii=False))
        if len(parts) >= BATCH:
            yield "".join(parts).encode("utf-8")
            parts.clear()
    parts.append("\n]\n")
    yield "".join(parts).encode("utf-8")


def write_xlsx(
    engine: Engine, export: Export, plan_id: int | None, language: HeaderLanguage
) -> str:
    """Write the export as a typed spreadsheet into a temporary file; return its path.

    Text columns (codes, 団体コード) are text cells formatted "@", so Excel neither drops a
    leading zero nor turns R6-7 into a date; numbers are numbers. Text is always a string
    cell, never a formula, whatever it starts with (openpyxl takes "=..." for one).
    """
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=export.title)
    for index, column in enumerate(export.columns, start=1):
        width = 50 if column.en in LONG_TEXT else 12 if column.type != "string" else 22
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for column in export.columns:
        title = WriteOnlyCell(sheet, value=getattr(column, language.value))
        title.font = bold
        header.append(title)
    sheet.append(header)
    with closing(rows(engine, export, plan_id, language)) as reader:
        for count, values in enumerate(reader, start=1):
            _append_xlsx_row(sheet, export, count, values)
    handle = tempfile.NamedTemporaryFile(suffix=".xlsx", delete=False)  # noqa: SIM115
    handle.close()
    workbook.save(handle.name)
    return handle.name


def _append_xlsx_row(sheet: Any, export: Export, count: int, values: list[Any]) -> None:
    if count > XLSX_MAX_ROWS:
        raise InvalidInput.at(
            ["path", "format"], "more rows than a spreadsheet holds: download the CSV"
        )
    line: list[Any] = []
    for column, value in zip(export.columns, values, strict=True):
        if isinstance(value, str) or (column.type == "string" and value is not None):
            text = WriteOnlyCell(sheet, value=str(value))
            text.data_type = "s"  # after the value: openpyxl made "=HYPERLINK(...)" a formula
            text.number_format = "@"
            line.append(text)
        elif isinstance(value, Decimal):
            # A number shown with as many decimals as it has (a rate: 97.4, 100.0).
            number = WriteOnlyCell(sheet, value=float(value))
            number.number_format = _number_format(value)
            line.append(number)
        elif column.type == "date" and value is not None:
            day = WriteOnlyCell(sheet, value=value)
            day.number_format = "yyyy-mm-dd"
            line.append(day)
        else:
            line.append(value)
    sheet.append(line)


def _number_format(value: Decimal) -> str:
    exponent = value.as_tuple().exponent
    places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    return f"0.{'0' * places}" if places else "0"
