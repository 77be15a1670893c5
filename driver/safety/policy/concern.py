"""The shape of one concern of the library (`[concerns.NAME]` in a policy file): a pydantic
model, so it lives with the policy and is imported only when a policy is loaded. The rules that
tie a concern to the governor's caps are in driver.safety.policy.rules."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

from driver.safety.aftercare import Downtime, downtime

__all__ = ["Concern"]


def _pair_float(value: list[float]) -> list[float]:
    if len(value) != 2:
        raise ValueError("must be a pair [lowest, highest]")
    return value


def _pair_int(value: list[int]) -> list[int]:
    if len(value) != 2:
        raise ValueError("must be a pair [lowest, highest]")
    return value


FloatPair = Annotated[list[float], AfterValidator(_pair_float)]
IntPair = Annotated[list[int], AfterValidator(_pair_int)]


class Concern(BaseModel):
    """One protocol of the library (the rules that tie it to the caps: driver.safety.policy)."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    #: how people say it: "acne scars"
    label: str
    #: roles that may plan a course of this concern (each zone's guidance fits their cap)
    roles: list[str]
    #: the usual number of sessions of a course [fewest, most]; a plan defaults to the most
    sessions: IntPair
    #: days from one session on a zone to the next [earliest, latest]
    interval_days: IntPair
    #: the usual stamp rate [lowest, highest] in hertz
    rate_hz: IntPair
    #: per zone the usual depth [shallowest, deepest] in millimetres
    depth_mm: dict[str, FloatPair]

    @property
    def zones(self) -> tuple[str, ...]:
        return tuple(self.depth_mm)

    def downtime(self) -> Downtime | None:
        """The downtime to expect at this concern's deepest guidance (driver.safety.aftercare)."""
        deepest = max((hi for _, hi in self.depth_mm.values()), default=0.0)
        return downtime(deepest)
