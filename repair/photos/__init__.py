"""Photos: intake checks, processing and the store they are kept in."""
