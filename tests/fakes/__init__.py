"""Stand-ins for external services (e.g. the chat model) used by the tests."""
