"""The strategy package's one error hierarchy."""

from __future__ import annotations


class StrategyError(Exception):
    """Base of every error raised by `strategy`."""


class NotEnoughDataError(StrategyError):
    """Too few usable laps to estimate what was asked (the message says how many are needed)."""


class InvalidInputError(StrategyError, ValueError):
    """An argument is out of its valid range (negative fuel, zero laps, ...)."""


class RuleViolationError(StrategyError):
    """A stint plan cannot satisfy a rule; `rule` names it."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule
