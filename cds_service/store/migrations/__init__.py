"""painpa's Alembic revisions (README.md here); run through cds_service.store.migrate."""
