"""A plan's whole open data in one zip: every CSV, a data dictionary, the licence, and a
Frictionless data package describing the files."""

import json
import tempfile
import zipfile
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from app.exports.csv import CsvOptions, Encoding, HeaderLanguage
from app.exports.tables import EXPORTS
from app.exports.writers import stream_csv
from app.wareki import period_label

# The bundle's CSVs are for people and machines alike: Japanese headers, UTF-8 with a BOM.
BUNDLE_CSV = CsvOptions(bom=True, encoding=Encoding.utf8, header=HeaderLanguage.ja)
LICENSE_TITLES = {"CC-BY-4.0": "Creative Commons Attribution 4.0 International"}


def licence_of(plan: dict[str, Any], default_license: str, default_url: str) -> dict[str, str]:
    name = plan.get("license") or default_license
    return {
        "name": name,
        "path": plan.get("license_url") or (default_url if name == default_license else ""),
        "title": LICENSE_TITLES.get(name, name),
    }


def datapackage(plan: dict[str, Any], licence: dict[str, str]) -> dict[str, Any]:
    """Return the Frictionless data package descriptor of a plan's bundle."""
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
                "path": f"{export.name}.csv",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8-sig",
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
                    ]
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


def write_bundle(engine: Engine, plan: dict[str, Any], licence: dict[str, str]) -> str:
    """Write the plan's zip into a temporary file, streaming each CSV; return its path."""
    handle = tempfile.NamedTemporaryFile(suffix=".zip", delete=False)  # noqa: SIM115
    handle.close()
    with zipfile.ZipFile(handle.name, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        now = datetime.now(UTC).timetuple()[:6]
        for export in EXPORTS.values():
            info = zipfile.ZipInfo(f"{export.name}.csv", date_time=now)
            info.compress_type = zipfile.ZIP_DEFLATED
            with bundle.open(info, "w") as member:
                for chunk in stream_csv(engine, export, plan["id"], BUNDLE_CSV):
                    member.write(chunk)
        descriptor = datapackage(plan, licence)
        bundle.writestr("datapackage.json", json.dumps(descriptor, ensure_ascii=False, indent=2))
        bundle.writestr("README.md", data_dictionary(plan))
        bundle.writestr("LICENSE.txt", licence_text(plan, licence))
    return handle.name
