"""Service functions: what views, CLI commands and jobs call. They take a session and plain data."""
