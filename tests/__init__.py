"""Test suite for the HTTP Endpoint adapter plugin."""
