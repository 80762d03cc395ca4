"""The HTTP side of the HTTP Endpoint adapter: a Starlette app that knows nothing of AstrBot.

The AstrBot glue in ``plugin/`` hands it plain values and callables (settings, the
gateway, the key manager, an audit logger) through :func:`asgi_app.app.create_app`.
"""
