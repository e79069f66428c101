"""The organisation and its people: the org tree, users, role grants, scope, saved filters, API tokens."""
