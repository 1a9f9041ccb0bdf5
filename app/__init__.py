"""Plan progress API: a municipality's administrative management plan, served as open data."""
