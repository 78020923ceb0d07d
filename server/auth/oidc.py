"""JWT access tokens from an external OIDC identity provider (APP_OIDC_*), checked with PyJWT.

- Only the allow-listed asymmetric algorithms (APP_OIDC_ALGORITHMS): ``none`` and HMAC
  algorithms are refused before any key is touched, so a token "signed" with the provider's
  public key as an HMAC secret gets nowhere.
- Keys come from the provider's JWKS, cached; an unknown ``kid`` refetches it at most once per
  ``min_refresh_interval`` seconds, so a stream of made-up kids cannot turn this server into a
  flood of requests to the provider.
- ``exp``, ``nbf`` and ``iat`` are checked with APP_OIDC_LEEWAY seconds of skew; ``iss``,
  ``aud``, ``exp``, ``iat`` and ``sub`` are required.
- ``sub`` maps to the principal whose ``oidc_subject`` it is; nobody is created on the fly.
- The JWKS comes over https (or http to a loopback address: APP_OIDC_JWKS_URL is checked at
  start), and a redirect is followed only where the same rule holds: urllib alone would follow
  one from https to http or ftp, where keys could be swapped on the way.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

import jwt

from server.config import Settings
from server.config.urls import check_key_url

log = logging.getLogger(__name__)
FETCH_TIMEOUT = 3.0
MAX_JWKS_BYTES = 256 * 1024


class _KeyUrlRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to a URL the JWKS may come from (check_key_url)."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        try:
            check_key_url(newurl)
        except ValueError:
            raise urllib.error.HTTPError(
                req.full_url, code, "redirect to a URL keys may not come from", headers, fp
            ) from None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_KeyUrlRedirects)


class InvalidToken(Exception):
    """The JWT is not acceptable; ``str()`` is safe to show the client (no token content)."""


@dataclass(frozen=True)
class Claims:
    subject: str
    scopes: frozenset[str]


class JwksCache:
    """The provider's signing keys by kid, refetched when stale or when a kid is unknown."""

    def __init__(self, url: str, *, max_age: float = 3600.0, min_refresh_interval: float = 60.0):
        self.url = url
        self.max_age = max_age
        self.min_refresh_interval = min_refresh_interval
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = threading.Lock()

    def get(self, kid: str) -> jwt.PyJWK | None:
        with self._lock:
            now = time.monotonic()
            stale = now - self._fetched_at > self.max_age
            unknown = kid not in self._keys
            if (stale or unknown) and now - self._fetched_at >= self.min_refresh_interval:
                self._refresh(now)
            return self._keys.get(kid)

    def _refresh(self, now: float) -> None:
        # Stamped even when it fails: a dead provider is not retried in a loop.
        self._fetched_at = now
        try:
            request = urllib.request.Request(self.url, headers={"Accept": "application/json"})  # noqa: S310
            with _OPENER.open(request, timeout=FETCH_TIMEOUT) as response:
                data: Any = json.loads(response.read(MAX_JWKS_BYTES))
            keys = jwt.PyJWKSet.from_dict(data).keys
        except (OSError, ValueError, jwt.PyJWTError) as exc:
            log.warning("oidc: JWKS fetch failed: %s", exc.__class__.__name__)
            return
        self._keys = {key.key_id: key for key in keys if key.key_id}


class OidcVerifier:
    def __init__(self, settings: Settings, jwks: JwksCache | None = None) -> None:
        if not (settings.oidc_jwks_url and settings.oidc_issuer and settings.oidc_audience):
            raise ValueError("OIDC is not configured")
        self.issuer = settings.oidc_issuer
        self.audience = settings.oidc_audience
        self.algorithms = list(settings.oidc_algorithms)
        self.leeway = settings.oidc_leeway
        self.scope_claim = settings.oidc_scope_claim
        self.jwks = jwks or JwksCache(settings.oidc_jwks_url)

    def verify(self, token: str) -> Claims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("not a JWT") from None
        algorithm = header.get("alg")
        if algorithm not in self.algorithms:
            raise InvalidToken("algorithm not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("no key id")
        key = self.jwks.get(kid)
        if key is None:
            raise InvalidToken("unknown key id")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(_reason(exc)) from None
        # RFC 7519's NumericDate: PyJWT takes any int() can read ("1700000000"), and a string
        # iat then failed the comparison below: a 500 for a token the issuer got wrong.
        if any(not _is_number(claims[name]) for name in DATE_CLAIMS if name in claims):
            raise InvalidToken("a date claim is not a number")
        if claims["iat"] > time.time() + self.leeway:
            raise InvalidToken("issued in the future")
        return Claims(str(claims["sub"]), _scopes(claims.get(self.scope_claim)))


DATE_CLAIMS = ("exp", "iat", "nbf")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _scopes(value: object) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(str(item) for item in value)
    return frozenset()


def _reason(exc: jwt.PyJWTError) -> str:
    reasons = {
        jwt.ExpiredSignatureError: "expired",
        jwt.ImmatureSignatureError: "not yet valid",
        jwt.InvalidAudienceError: "wrong audience",
        jwt.InvalidIssuerError: "wrong issuer",
        jwt.InvalidSignatureError: "bad signature",
        jwt.MissingRequiredClaimError: "a required claim is missing",
    }
    for kind, reason in reasons.items():
        if isinstance(exc, kind):
            return reason
    return "invalid token"
