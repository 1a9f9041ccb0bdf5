"""The dashboard at `/`: a page for people, and the reference client of the public API."""
