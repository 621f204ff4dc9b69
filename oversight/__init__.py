"""Operators decide: the recommendation lifecycle, auto-approval policies and stops."""
