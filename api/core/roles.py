"""Roles and the principal: who is calling, in which role, for which organisation."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["ORGANISATION_ROLES", "Principal", "Role"]


class Role(StrEnum):
    """What a caller may do. Partner, triage and privacy officer act for one organisation."""

    ADMIN = "admin"
    PLANNER = "planner"
    NURSE = "nurse"
    PARTNER = "partner"
    TRIAGE = "triage"
    PRIVACY_OFFICER = "privacy_officer"


ORGANISATION_ROLES = frozenset({Role.PARTNER, Role.TRIAGE, Role.PRIVACY_OFFICER})


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller: a signed-in user or a partner system with an API key."""

    role: Role
    actor: str
    user_id: int | None = None
    api_key_id: int | None = None
    organisation_id: int | None = None
    nurse_id: int | None = None
    responsible_user_id: int | None = None
    second_factor: bool = False
    #: A bearer token's issue time (seconds since the epoch); ``None`` for an API key.
    token_issued_at: int | None = None
    #: The phone key the token is bound to (``cnf.jkt``); each request proved it holds it.
    key_thumbprint: str | None = None
