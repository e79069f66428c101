"""The annual safety assessment (年度安全考核, seed 004) and per-unit inspection performance."""
