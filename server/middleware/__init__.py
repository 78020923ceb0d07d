"""Request-level hooks: request ids, security headers, CORS, proxies, Sentry."""
