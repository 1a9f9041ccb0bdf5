"""A plan's whole open data in one zip: every CSV, a data dictionary, the licence, and a
Frictionless data package describing the files."""

import hashlib
import json
import stat
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine

from app.exports.csv import CsvOptions, Encoding, HeaderLanguage
from app.exports.tables import EXPORTS, Export
from app.exports.writers import stream_csv
from app.wareki import period_label

# The bundle's CSVs are for people and machines alike: Japanese headers, UTF-8 with a BOM.
BUNDLE_CSV = CsvOptions(bom=True, encoding=Encoding.utf8, header=HeaderLanguage.ja)
LICENSE_TITLES = {"CC-BY-4.0": "Creative Commons Attribution 4.0 International"}


def licence_of(plan: Mapping[str, Any], default_license: str, default_url: str) -> dict[str, str]:
    name = plan.get("license") or default_license
    return {
        "name": name,
        "path": plan.get("license_url") or (default_url if name == default_license else ""),
        "title": LICENSE_TITLES.get(name, name),
    }


def header_url(url: str) -> str:
    """A URL as a header may carry it: Latin-1 only, and nothing that ends a Link's `<…>`.

    A plan's licence URL is the writer's text: it may hold Japanese (an IRI, as a city's
    利用規約 page often is), a space, `>` or `"`. Each is percent-encoded (UTF-8), as a
    browser would send it; what is already percent-encoded stays as it is.
    """
    return quote(url, safe="!#$%&'()*+,/:;=?@[]~")


def licence_link(plan: Mapping[str, Any], default_license: str, default_url: str) -> str | None:
    """The plan's licence as a Link header's value, or None when it has no URL."""
    licence = licence_of(plan, default_license, default_url)
    return f'<{header_url(licence["path"])}>; rel="license"' if licence["path"] else None


# Every file of the bundle is readable by anyone who unpacks it (rw-r--r--).
FILE_MODE = (stat.S_IFREG | 0o644) << 16

# The keys of each table, in the columns the CSV has (natural keys: the CSVs carry no ids,
# so that an export reads back through the bulk import unchanged). The plan (計画) is in
# every key, so the keys hold across the exports of several plans too.
PRIMARY_KEYS = {
    "plans": ["計画"],
    "policies": ["計画", "基本方針番号"],
    "measures": ["計画", "基本方針番号", "施策番号"],
    "initiatives": ["計画", "取組番号"],
    "evaluations": ["計画", "取組番号", "年度"],
    "reports": ["計画", "年度", "基本方針番号"],
    "highlights": ["計画", "年度", "取組番号"],
}
FOREIGN_KEYS = {
    "policies": [(["計画"], "plans")],
    "measures": [(["計画", "基本方針番号"], "policies")],
    "initiatives": [(["計画", "基本方針番号", "施策番号"], "measures")],
    "evaluations": [(["計画", "取組番号"], "initiatives")],
    # A report without lines yet is a row whose 基本方針番号 is empty: a key of 計画 and an
    # empty number would name no policy, while a key of the number alone is skipped when
    # empty. A bundle holds one plan, so the number alone names the policy.
    "reports": [(["計画"], "plans"), (["基本方針番号"], "policies")],
    "highlights": [(["計画", "取組番号"], "initiatives")],
}


def bundle_path(export: Export) -> str:
    """The path of an export's CSV inside the bundle."""
    return f"{export.name}.csv"


def datapackage(
    plan: dict[str, Any],
    licence: dict[str, str],
    path_of: Callable[[Export], str] = bundle_path,
) -> dict[str, Any]:
    """Return the Frictionless data package descriptor of a plan's bundle.

    path_of names each CSV: inside the zip, the file next to the descriptor; online, the URL
    of the export that gives the same bytes.
    """
    return {
        "profile": "tabular-data-package",
        "name": plan["slug"],
        "title": f"{plan['municipality_name']} {plan['title']}"
        f"（{period_label(plan['start_fiscal_year'], plan['end_fiscal_year'])}）",
        "licenses": [licence],
        "sources": [{"title": plan.get("source") or plan["title"]}],
        "resources": [
            {
                "profile": "tabular-data-resource",
                "name": export.name,
                "title": export.title,
                "path": path_of(export),
                "format": "csv",
                "mediatype": "text/csv",
                # The IANA name: a BOM does not make it another encoding.
                "encoding": "utf-8",
                "dialect": {"header": True, "delimiter": ",", "lineTerminator": "\r\n"},
                "schema": {
                    "fields": [
                        {
                            "name": column.ja,
                            "title": column.en,
                            "type": column.type,
                            "description": f"{column.description} / {column.description_en}",
                            **(
                                {"trueValues": ["true"], "falseValues": ["false"]}
                                if column.type == "boolean"
                                else {}
                            ),
                        }
                        for column in export.columns
                    ],
                    "primaryKey": PRIMARY_KEYS[export.name],
                    "foreignKeys": [
                        {"fields": fields, "reference": {"resource": resource, "fields": fields}}
                        for fields, resource in FOREIGN_KEYS.get(export.name, [])
                    ],
                },
            }
            for export in EXPORTS.values()
        ],
    }


def data_dictionary(plan: dict[str, Any]) -> str:
    lines = [
        f"# {plan['municipality_name']} {plan['title']} — オープンデータ / open data",
        "",
        "各 CSV は UTF-8（BOM 付き）、1 行目が見出し、改行は CRLF です。",
        "Each CSV is UTF-8 with a BOM, header on the first line, CRLF line ends.",
        "",
    ]
    for export in EXPORTS.values():
        lines += [
            f"## {export.name}.csv — {export.title}",
            "",
            "| 列 | column | 型 type | 説明 | description |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {c.ja} | {c.en} | {c.type} | {c.description} | {c.description_en} |"
            for c in export.columns
        ]
        lines.append("")
    return "\n".join(lines)


def licence_text(plan: dict[str, Any], licence: dict[str, str]) -> str:
    credit = plan.get("attribution") or f"出典：{plan['municipality_name']}「{plan['title']}」"
    return (
        f"{licence['title']} ({licence['name']})\n{licence['path']}\n\n"
        f"クレジット表記 / Credit: {credit}\n"
        f"出典 / Source: {plan.get('source') or plan['title']}\n"
    )


def _format() -> str:
    """What decides a bundle's bytes besides the data: the code that writes it (every module
    of the app as installed, so any release that could change them names a new format) and
    the zlib that compresses it. Part of the bundle's strong ETag."""
    digest = hashlib.sha256(zlib.ZLIB_RUNTIME_VERSION.encode())
    for path in sorted(Path(__file__).resolve().parent.parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


BUNDLE_FORMAT = _format()


def _member(name: str, made: datetime) -> zipfile.ZipInfo:
    """A member dated `made`, readable by anyone who unpacks it.

    A ZIP date is a wall-clock time with no zone: it is written in UTC, and an extended
    timestamp field ("UT", Info-ZIP's 0x5455: flags, then the Unix time) says the instant
    itself, which unzip and 7-Zip show in the reader's own zone. A ZipInfo of our own has no
    permissions (external_attr 0): unzip would make the file unreadable (mode 0000), so each
    member says rw-r--r--.
    """
    info = zipfile.ZipInfo(name, date_time=made.astimezone(UTC).timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = FILE_MODE
    info.extra = struct.pack("<HHBL", 0x5455, 5, 1, int(made.timestamp()))
    return info


def write_bundle(
    engine: Engine, plan: dict[str, Any], licence: dict[str, str], made: datetime
) -> str:
    """Write the plan's zip into a temporary file, streaming each CSV; return its path.

    Every member is dated `made`, the time of the data (the last write), not the time of the
    request: the same data gives the same bytes, so a download resumed with a Range joins
    the one it began, and a mirror's checksum holds until the data changes.
    """
    handle = tempfile.NamedTemporaryFile(suffix=".zip", delete=False)  # noqa: SIM115
    handle.close()
    with zipfile.ZipFile(handle.name, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for export in EXPORTS.values():
            with bundle.open(_member(bundle_path(export), made), "w") as member:
                for chunk in stream_csv(engine, export, plan["id"], BUNDLE_CSV):
                    member.write(chunk)
        descriptor = json.dumps(datapackage(plan, licence), ensure_ascii=False, indent=2)
        bundle.writestr(_member("datapackage.json", made), descriptor)
        bundle.writestr(_member("README.md", made), data_dictionary(plan))
        bundle.writestr(_member("LICENSE.txt", made), licence_text(plan, licence))
    return handle.name
