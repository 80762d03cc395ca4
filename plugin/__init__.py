"""AstrBot glue: the platform adapter, its event, the mount and conversions.

Everything here may import astrbot; ``asgi_app`` never does.
"""
