"""Authentication and authorization (issue 10): who is calling, and what it may see and do.

- actor.py: the acting principal, a context variable (no Flask: services and the CLI use it).
- tokens.py: opaque API tokens, their keyed hash and lookup.
- token_cache.py: recent successful lookups in Redis, dropped by every write to principals/tokens.
- oidc.py: JWT access tokens from an external identity provider.
- isolation.py: every ORM query sees only the acting principal's rows.
- authentication.py: bearer credentials to an actor, or RFC 6750 401/403 problems.
- gate.py: the before_request hooks (identify, then the rate limit, then authorize).
- log_filter.py: the principal's id on every log record.
"""
