"""Errors of the oversight package."""

from __future__ import annotations


class OversightError(Exception):
    """Root of every error oversight/ raises."""


class NotPending(OversightError, ValueError):
    """A decision on a recommendation that is no longer proposed."""

    def __init__(self, recommendation_id: str, status: str) -> None:
        self.recommendation_id = recommendation_id
        self.status = status
        super().__init__(
            f"recommendation {recommendation_id} is {status}, not proposed: decisions are final; "
            "decide on the newest proposal for the junction"
        )


class UnknownRecommendation(OversightError, KeyError):
    """No recommendation with that id in this commune."""

    def __init__(self, commune: str, recommendation_id: str) -> None:
        self.commune = commune
        self.recommendation_id = recommendation_id
        super().__init__(recommendation_id)

    def __str__(self) -> str:
        return f"no recommendation {self.recommendation_id!r} in commune {self.commune!r}"


class InvalidEdit(OversightError, ValueError):
    """An operator's modified plan that fails the checks a computed plan passes."""

    def __init__(self, plan_id: str, problems: list[str]) -> None:
        self.plan_id = plan_id
        self.problems = problems
        super().__init__(f"edit of plan {plan_id} refused: " + "; ".join(problems))


class Suspended(OversightError, ValueError):
    """A decision asked for while an operator's stop holds."""

    def __init__(self, what: str, by: str) -> None:
        self.what = what
        self.by = by
        super().__init__(f"{what} is suspended (by {by}): resume it first")
