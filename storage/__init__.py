"""ORM models, repositories and migrations. Imports nothing of ours."""
