"""The server-rendered pages: one Flask blueprint per subject, templates under web/templates."""
