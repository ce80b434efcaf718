"""The local inbox and the sentry-asgi command, from envelope bytes to a real browser."""
