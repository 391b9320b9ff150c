"""One router per resource: search, ask, documents, passages, health (health, ready, reload)."""
