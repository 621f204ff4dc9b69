"""The operator API and page."""
