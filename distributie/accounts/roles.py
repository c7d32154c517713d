"""The three roles and what each may do: one check that the web page and the CLI both use."""

from __future__ import annotations

from enum import StrEnum

from distributie.accounts.errors import InvalidRole, NotAllowed


class Role(StrEnum):
    LEZER = "lezer"
    MEDEWERKER = "medewerker"
    BEHEERDER = "beheerder"


# Each role may do everything the roles before it may.
_RANK = {Role.LEZER: 1, Role.MEDEWERKER: 2, Role.BEHEERDER: 3}


class Action(StrEnum):
    """What a person asks distributie to do. Add new actions here with their minimum role."""

    VIEW = "view"  # runs, status, history
    DOWNLOAD = "download"  # reports (CSV, .xlsx)
    CHECK = "check"  # check a list, including an upload
    PREVIEW = "preview"
    TEST_SEND = "test-send"
    START = "start"
    RESEND = "resend"
    RETRY = "retry"
    CANCEL = "cancel"
    APPROVE = "approve"  # someone else's run (the vier-ogenprincipe: never one's own)
    REJECT = "reject"
    PAUSE = "pause"
    RESUME = "resume"
    MANAGE_ACCOUNTS = "manage-accounts"


MINIMUM_ROLE: dict[Action, Role] = {
    Action.VIEW: Role.LEZER,
    Action.DOWNLOAD: Role.LEZER,
    Action.CHECK: Role.MEDEWERKER,
    Action.PREVIEW: Role.MEDEWERKER,
    Action.TEST_SEND: Role.MEDEWERKER,
    Action.START: Role.MEDEWERKER,
    Action.RESEND: Role.MEDEWERKER,
    Action.RETRY: Role.MEDEWERKER,
    Action.CANCEL: Role.MEDEWERKER,
    Action.APPROVE: Role.MEDEWERKER,
    Action.REJECT: Role.MEDEWERKER,
    Action.PAUSE: Role.MEDEWERKER,
    Action.RESUME: Role.MEDEWERKER,
    Action.MANAGE_ACCOUNTS: Role.BEHEERDER,
}


def parse_role(text: str) -> Role:
    try:
        return Role(text.strip().lower())
    except ValueError:
        raise InvalidRole(text, tuple(Role)) from None


def allows(role: Role, action: Action) -> bool:
    return _RANK[role] >= _RANK[MINIMUM_ROLE[action]]


def require(role: Role, action: Action) -> None:
    """Raise NotAllowed unless `role` may do `action`; call it before changing anything."""
    if not allows(role, action):
        raise NotAllowed(role, action, MINIMUM_ROLE[action])
