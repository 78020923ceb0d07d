"""The gate: every request is identified, counted, then allowed or not.

Three before_request steps, in this order (server/app.py registers them):
1. ``identify``: a bearer credential becomes the acting principal (server/auth/actor.py), or a
   401; an address with too many failures gets 429 before its credential is even looked at.
2. the rate limit (server/infra/ratelimit.py) counts the request for that principal, or for the
   address when there is none.
3. ``authorize``: deny by default. Every route needs a principal with the route's scope (read
   for GET, write for changes, admin where a view says so) unless it is marked public.
Requests that match no route fall through to their 404 or 405 (after being counted), whatever
credential they carry (RFC 9110 sections 15.5.5 and 15.5.6 make both a property of the target,
and the route table is public in the OpenAPI document). With a bad token they answered 401,
with a good one or none 404/405, and ``TRACE /health/live`` depended on a credential a probe
never checks. The credential is still looked at: a good one counts the request against its
principal's budget, a bad one as the address's authentication failure, as on any route.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from flask import Flask, current_app, request

import server.auth.isolation as isolation
import server.auth.token_cache as token_cache
import server.auth.tokens as tokens
from server.auth.actor import READ, WRITE, Actor, current_actor, reset_actor, set_actor
from server.auth.authentication import (
    authenticate_jwt,
    authenticate_token,
    bearer_credential,
    insufficient_scope,
    unauthorized,
)
from server.config import Settings
from server.infra.current_request import current_request
from server.infra.ratelimit import client_limiter

if TYPE_CHECKING:
    from server.auth.oidc import OidcVerifier

ViewT = TypeVar("ViewT", bound=Callable[..., Any])
READ_METHODS = frozenset({"GET", "HEAD"})
UNIDENTIFIED_BLUEPRINTS = frozenset({"health"})
ACTOR_RESET = "fns.actor_reset"


def requires_scope(scope: str) -> Callable[[ViewT], ViewT]:
    """Mark a view as needing ``scope`` instead of the method's default (read or write)."""

    def mark(view: ViewT) -> ViewT:
        view.required_scope = scope  # type: ignore[attr-defined]
        return view

    return mark


def required_scope(view: Callable[..., Any], method: str) -> str:
    return getattr(view, "required_scope", READ if method in READ_METHODS else WRITE)


def oidc_verifier(settings: Settings) -> OidcVerifier:
    # Imported only when OIDC is configured: PyJWT and cryptography's primitives cost every
    # worker about 0.03 CPU-s at start, for nothing without an identity provider.
    from server.auth.oidc import OidcVerifier

    return OidcVerifier(settings)


class Gate:
    def __init__(self, settings: Settings, public_blueprints: Iterable[str]) -> None:
        self.key = tokens.key_from_settings(settings)
        self.verifier = oidc_verifier(settings) if settings.oidc_enabled else None
        self.public_blueprints = frozenset(public_blueprints)

    def identify(self) -> None:
        this = current_request()
        if this.blueprint in UNIDENTIFIED_BLUEPRINTS:
            return  # probes: no database lookup, whatever headers a prober sends
        credential = bearer_credential(this.environ)
        if credential is None:
            return
        limiter = client_limiter(current_app)
        # One round trip: the address's failure budget and the token cache's entry.
        lookup = None
        if tokens.parse(credential) is not None:
            lookup = token_cache.Lookup(tokens.digest(self.key, credential))
        limiter.check_auth_failures(riders=[lookup.queue] if lookup is not None else [])
        actor: Actor | None = None
        if credential.startswith("fns_"):
            actor = authenticate_token(self.key, credential, lookup)
        elif self.verifier is not None and credential.count(".") == 2:
            actor = authenticate_jwt(self.verifier, credential)
        if actor is None:
            limiter.count_auth_failure()
            if this.url_rule is None:
                return  # no view will run: 404 or 405, whatever the credential
            raise unauthorized("invalid_token", "The access token is invalid, expired or revoked.")
        this.environ[ACTOR_RESET] = set_actor(actor)
        # For the access log (server/gunicorn_conf.py): the principal's id, never its token.
        this.environ["fns.principal"] = str(actor.principal_id)

    def authorize(self) -> None:
        this = current_request()
        if this.url_rule is None or this.method == "OPTIONS":
            return  # 404 / 405 / CORS preflight: nothing to protect
        if this.blueprint in self.public_blueprints:
            return
        actor = current_actor()
        if actor is None:
            raise unauthorized()
        scope = required_scope(current_app.view_functions[this.endpoint or ""], this.method)
        if scope not in actor.scopes:
            raise insufficient_scope(scope)


def init_identify(app: Flask, settings: Settings, public_blueprints: Iterable[str]) -> Gate:
    """Step 1 (identify) and the actor's reset after the request."""
    isolation.install()
    gate = Gate(settings, public_blueprints)
    app.extensions["auth_gate"] = gate
    app.before_request(gate.identify)

    @app.teardown_request
    def _forget(_exc: BaseException | None) -> None:
        token = request.environ.pop(ACTOR_RESET, None)
        if token is not None:
            reset_actor(token)

    return gate


def init_authorize(app: Flask) -> None:
    """Step 3, registered after the rate limit."""
    app.before_request(app.extensions["auth_gate"].authorize)


def public_blueprints(settings: Settings) -> list[str]:
    return ["health", "docs"] if settings.docs_public else ["health"]
