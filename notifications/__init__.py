"""Notification channels (SMTP, in-app, webhook) behind a small port; depends on the engine only through it."""
