"""Statistics: figures, queries, CSV export, charts and their pages."""
