"""The operator CLI's side of the API: HTTP with a bearer token, refusals explained in words.

The token comes from ``AIGUILLEUR_TOKEN`` or the file ``AIGUILLEUR_TOKEN_FILE`` names, never from
a command-line argument (it would stay in the shell's history and in ``ps``).
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from aiguilleur.settings import Settings


class OperatorClientError(Exception):
    """Root of the operator client's errors: the message says what to do."""


class NoToken(OperatorClientError, ValueError):
    """Neither AIGUILLEUR_TOKEN nor AIGUILLEUR_TOKEN_FILE gives a token."""


class Unreachable(OperatorClientError, ConnectionError):
    """The API does not answer at the configured address."""


class Refused(OperatorClientError):
    """The API answered with an error status."""

    def __init__(self, status: int, detail: str, message: str) -> None:
        self.status = status
        self.detail = detail
        super().__init__(message)


TOKEN_HELP = (
    "set AIGUILLEUR_TOKEN to an access token from the identity provider, or AIGUILLEUR_TOKEN_FILE "
    "to a file holding one (never an argument: it would stay in the shell's history)"
)


def read_token(settings: Settings) -> tuple[str, list[str]]:
    """The bearer token and warnings about how it is kept; ``NoToken`` says how to give one."""
    warnings: list[str] = []
    if settings.token is not None and settings.token.get_secret_value().strip():
        return settings.token.get_secret_value().strip(), warnings
    path = settings.token_file
    if path is None:
        raise NoToken(f"no token: {TOKEN_HELP}")
    try:
        text = path.read_text().strip()
        mode = path.stat().st_mode
    except OSError as e:
        raise NoToken(f"AIGUILLEUR_TOKEN_FILE={path}: cannot read it ({e.strerror})") from e
    if not text:
        raise NoToken(f"AIGUILLEUR_TOKEN_FILE={path} is empty: {TOKEN_HELP}")
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        warnings.append(f"{path} can be read by other users: chmod 600 {path}")
    return text, warnings


def explain(status: int, detail: str, problems: list[str], not_found_hint: str) -> str:
    """A refusal in words: what the status means here and what to do."""
    if status == 401:
        return (
            f"the API refused the token ({detail}): it is missing, expired, or issued by another "
            f"provider or for another audience; get a fresh one and {TOKEN_HELP}"
        )
    if status == 403:
        return (
            f"not allowed: {detail}. Roles come from the token as '<commune>:<role>': an operator "
            "decides and suspends, an administrator also sets policies, a viewer or an auditor "
            "only reads; ask an administrator of the commune for the role"
        )
    if status == 404:
        return f"not found: {detail}" + (f"; {not_found_hint}" if not_found_hint else "")
    if status == 409:
        return (
            f"refused, the state on record does not allow it: {detail} (a decision is final, and "
            "nothing is approved while an operator's stop holds)"
        )
    if status == 422:
        lines = "".join(f"\n  - {p}" for p in problems)
        return f"invalid: {detail}{lines}"
    return f"the API answered {status}: {detail}"


@dataclass
class OperatorClient:
    """The routes the CLI uses, for one commune."""

    base_url: str
    token: str
    commune: str
    timeout_s: float = 30.0

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        not_found_hint: str = "",
    ) -> Any:
        url = f"{self.base_url}/api{path}"
        try:
            r = httpx.request(
                method,
                url,
                json=json,
                params=params,
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=self.timeout_s,
            )
        except httpx.HTTPError as e:
            raise Unreachable(
                f"cannot reach the operator API at {self.base_url} ({e}): is `aiguilleur api` "
                "running there? Set AIGUILLEUR_API_URL to its address"
            ) from e
        if r.is_success:
            return r.json()
        try:
            body = r.json()
        except ValueError:
            body = {}
        detail = body.get("detail") if isinstance(body, dict) else None
        if not isinstance(detail, str):  # pydantic's validation errors are a list
            detail = str(detail) if detail else r.reason_phrase
        problems = body.get("problems", []) if isinstance(body, dict) else []
        raise Refused(
            r.status_code, detail, explain(r.status_code, detail, problems, not_found_hint)
        )

    @property
    def _c(self) -> str:
        return f"/communes/{quote(self.commune, safe='')}"

    def me(self) -> dict[str, Any]:
        """The caller and their roles."""
        out: dict[str, Any] = self._request("GET", "/me")
        return out

    def pending(self, kind: str = "signal-plan") -> list[dict[str, Any]]:
        """Pending recommendations of a kind."""
        out: list[dict[str, Any]] = self._request(
            "GET", f"{self._c}/recommendations", params={"kind": kind}
        )
        return out

    def get(self, rid: str) -> dict[str, Any]:
        """One recommendation."""
        out: dict[str, Any] = self._request(
            "GET", f"{self._c}/recommendations/{quote(rid, safe='')}", not_found_hint=_LIST_HINT
        )
        return out

    def decide(self, rid: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
        """``approve``, ``reject`` or ``modify`` a recommendation."""
        out: dict[str, Any] = self._request(
            "POST",
            f"{self._c}/recommendations/{quote(rid, safe='')}/{action}",
            json=body,
            not_found_hint=_LIST_HINT,
        )
        return out

    def history(self, junction_id: str) -> dict[str, Any]:
        """A junction's recommendations and trail."""
        out: dict[str, Any] = self._request(
            "GET", f"{self._c}/junctions/{quote(junction_id, safe='')}/history"
        )
        return out

    def suspensions(self) -> list[dict[str, Any]]:
        """The stops in force."""
        out: list[dict[str, Any]] = self._request("GET", f"{self._c}/suspensions")
        return out

    def suspend(self, body: dict[str, Any]) -> dict[str, Any]:
        """Stop recommendations and/or live control."""
        out: dict[str, Any] = self._request("POST", f"{self._c}/suspensions", json=body)
        return out

    def resume(self, scope: str, target: str) -> dict[str, Any]:
        """Lift a stop."""
        out: dict[str, Any] = self._request(
            "DELETE",
            f"{self._c}/suspensions/{scope}/{quote(target, safe='')}",
            not_found_hint="`aiguilleur suspensions` lists the stops in force",
        )
        return out

    def policies(self) -> list[dict[str, Any]]:
        """The auto-approval policies in force."""
        out: list[dict[str, Any]] = self._request("GET", f"{self._c}/policies")
        return out

    def set_policy(self, scope: str, target: str, body: dict[str, Any]) -> dict[str, Any]:
        """Set an auto-approval policy."""
        out: dict[str, Any] = self._request(
            "PUT", f"{self._c}/policies/{scope}/{quote(target, safe='')}", json=body
        )
        return out

    def drop_policy(self, scope: str, target: str) -> dict[str, Any]:
        """Remove an auto-approval policy."""
        out: dict[str, Any] = self._request(
            "DELETE", f"{self._c}/policies/{scope}/{quote(target, safe='')}"
        )
        return out

    def propose_envelopes(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """Envelope proposals from the network model."""
        out: list[dict[str, Any]] = self._request(
            "POST", f"{self._c}/envelopes/proposals", json=body
        )
        return out

    def envelopes(self) -> list[dict[str, Any]]:
        """The approved envelopes."""
        out: list[dict[str, Any]] = self._request("GET", f"{self._c}/envelopes")
        return out

    def withdraw_envelope(self, junction_id: str, reason: str) -> dict[str, Any]:
        """Withdraw a junction's approved envelope."""
        out: dict[str, Any] = self._request(
            "DELETE",
            f"{self._c}/envelopes/{quote(junction_id, safe='')}",
            params={"reason": reason},
            not_found_hint="`aiguilleur envelopes list` shows the approved ones",
        )
        return out


_LIST_HINT = "`aiguilleur recommendations list` shows the pending ones, with their ids"


def client(settings: Settings, commune: str | None = None) -> tuple[OperatorClient, list[str]]:
    """A client for ``commune`` (default: the settings' commune) and warnings about the token."""
    token, warnings = read_token(settings)
    return (
        OperatorClient(settings.effective_api_url, token, commune or settings.effective_commune),
        warnings,
    )
