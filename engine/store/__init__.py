"""The only package that speaks SQL: the audit log's schema, views and queries."""
