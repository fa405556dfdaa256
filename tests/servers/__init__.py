"""Test servers of the project's own."""
