"""Who is calling, and what they may do: OIDC access tokens (JWT) checked offline against the
identity provider's configured issuer and JWKS, roles per commune.

No call goes out at request time: the JWKS comes from a file or the settings (refresh it when the
provider rotates its keys). Roles are read from one claim (``AIGUILLEUR_OIDC_ROLES_CLAIM``, a dotted
path such as ``resource_access.aiguilleur.roles`` for Keycloak's client roles) holding strings
``<commune>:<role>``; ``*:<role>`` grants the role in every commune.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import jwt

Role = Literal["viewer", "operator", "administrator", "auditor"]
ROLES: tuple[Role, ...] = ("viewer", "operator", "administrator", "auditor")
Permission = Literal["read", "decide", "suspend", "policy", "audit"]

PERMISSIONS: dict[Permission, frozenset[Role]] = {
    "read": frozenset(ROLES),
    "decide": frozenset({"operator", "administrator"}),
    "suspend": frozenset({"operator", "administrator"}),
    "policy": frozenset({"administrator"}),
    "audit": frozenset({"auditor", "administrator"}),
}
"""What each role may do in its commune. A viewer reads; an operator also approves, rejects,
modifies, suspends and resumes; an administrator also sets auto-approval policies; an auditor
reads and verifies the audit trail but decides nothing."""

ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "EdDSA"]


class Unauthenticated(Exception):
    """No token, or one that does not verify."""


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: the token's subject and its roles per commune."""

    subject: str
    name: str
    roles: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def may(self, permission: Permission, commune: str) -> bool:
        """Whether the caller holds a role allowing ``permission`` in ``commune``."""
        held = self.roles.get(commune, frozenset()) | self.roles.get("*", frozenset())
        return bool(held & PERMISSIONS[permission])

    def communes(self, known: list[str]) -> list[str]:
        """The known communes the caller may read."""
        return [c for c in known if self.may("read", c)]


def _claim(claims: Mapping[str, Any], path: str) -> Any:
    node: Any = claims
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def roles_from(claims: Mapping[str, Any], path: str) -> dict[str, frozenset[str]]:
    """``<commune>:<role>`` strings of the roles claim, grouped by commune (unknown roles are
    ignored)."""
    value = _claim(claims, path)
    items = value if isinstance(value, list) else []
    out: dict[str, set[str]] = {}
    for item in items:
        if not isinstance(item, str) or ":" not in item:
            continue
        commune, role = item.rsplit(":", 1)
        if role in ROLES:
            out.setdefault(commune, set()).add(role)
    return {c: frozenset(r) for c, r in out.items()}


class TokenVerifier:
    """Checks bearer tokens: signature by a key of the JWKS, issuer, audience, expiry."""

    def __init__(
        self, issuer: str, audience: str, jwks: Mapping[str, Any], roles_claim: str
    ) -> None:
        if not issuer:
            raise ValueError("AIGUILLEUR_OIDC_ISSUER is empty: name the identity provider")
        self.issuer = issuer
        self.audience = audience
        self.roles_claim = roles_claim
        self.keys = jwt.PyJWKSet.from_dict(dict(jwks))

    @classmethod
    def from_json(
        cls, issuer: str, audience: str, jwks_json: str, roles_claim: str
    ) -> TokenVerifier:
        """From the JWKS document's text."""
        return cls(issuer, audience, json.loads(jwks_json), roles_claim)

    def verify(self, token: str) -> Principal:
        """The caller a token names; ``Unauthenticated`` says why not."""
        try:
            header = jwt.get_unverified_header(token)
            kid = header.get("kid")
            keys = [k for k in self.keys.keys if kid is None or k.key_id == kid]
            if not keys:
                raise Unauthenticated(f"token signed with unknown key id {kid!r}")
            claims = jwt.decode(
                token,
                keys[0].key,
                algorithms=ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iss", "sub", "aud"]},
                leeway=30,
            )
        except jwt.PyJWTError as e:
            raise Unauthenticated(str(e)) from e
        name = str(claims.get("name") or claims.get("preferred_username") or claims["sub"])
        return Principal(str(claims["sub"]), name, roles_from(claims, self.roles_claim))
