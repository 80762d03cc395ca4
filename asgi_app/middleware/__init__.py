"""Pure ASGI middleware, outermost first: context → access log → bearer auth."""
