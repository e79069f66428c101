"""What every floor stands on: database and unit of work, clock, errors, settings, China time, Alembic."""
