"""What the wheel carries besides the code: the migrations, the seed and the dashboard's files.

A checkout keeps `migrations/` and `seed/` at the top, beside `app/`, where people look for
them. An installed service has no checkout, so the wheel carries both inside the package,
as `app/_data/migrations/` and `app/_data/seed/` (app/paths.py finds them either way). Everything
else about the package is in pyproject.toml.
"""

from setuptools import find_packages, setup

BUNDLED = {
    "app._data.migrations": "migrations",
    "app._data.migrations.versions": "migrations/versions",
    "app._data.seed": "seed",
    "app._data.seed.source": "seed/source",
}

setup(
    packages=[*find_packages(include=["app", "app.*"]), *BUNDLED],
    package_dir=BUNDLED,
    package_data={
        # The dashboard's page, scripts and stylesheets (served from the package).
        "app.dashboard": ["static/*"],
        "app._data.migrations": ["*.py", "*.mako"],
        "app._data.migrations.versions": ["*.py"],
        "app._data.seed": ["*.toml", "*.md"],
        "app._data.seed.source": ["*.txt"],
    },
)
