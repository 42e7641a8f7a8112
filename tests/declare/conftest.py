"""The migrations' own-database fixture, for the provisional-standards test that takes 0023 down and up."""

from tests.ops.test_migrations import own_database  # noqa: F401 (a fixture)
