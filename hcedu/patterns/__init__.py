"""Redis patterns built on redis-py, each safe under concurrency and runnable on fakeredis or a real server."""
