"""Administration: managing the org tree and its people (delegated by admin grants), with an audit event per change."""
