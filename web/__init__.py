"""Rectiflow's composition root: the Flask app, the CLI and the scheduler are all assembled here."""
