"""Settings, security and error handling shared by the whole service."""
