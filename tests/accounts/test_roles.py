"""Roles: each may do what the roles below it may; outside the role is NotAllowed."""

from __future__ import annotations

import pytest

from distributie.accounts import Action, InvalidRole, NotAllowed, Role, allows, parse_role, require

LEZER_MAY = {Action.VIEW, Action.DOWNLOAD}
MEDEWERKER_MAY = LEZER_MAY | {
    Action.CHECK,
    Action.PREVIEW,
    Action.TEST_SEND,
    Action.START,
    Action.RESEND,
    Action.RETRY,
    Action.CANCEL,
    Action.APPROVE,
    Action.REJECT,
    Action.PAUSE,
    Action.RESUME,
}
BEHEERDER_MAY = MEDEWERKER_MAY | {Action.MANAGE_ACCOUNTS}


@pytest.mark.parametrize(
    ("role", "may"),
    [(Role.LEZER, LEZER_MAY), (Role.MEDEWERKER, MEDEWERKER_MAY), (Role.BEHEERDER, BEHEERDER_MAY)],
)
def test_each_role_may_do_exactly_its_actions(role: Role, may: set[Action]) -> None:
    assert {action for action in Action if allows(role, action)} == may


def test_an_action_outside_the_role_is_refused_naming_the_role_needed() -> None:
    with pytest.raises(NotAllowed, match="the role lezer may not start; that needs medewerker"):
        require(Role.LEZER, Action.START)


def test_an_action_inside_the_role_passes() -> None:
    require(Role.MEDEWERKER, Action.START)


def test_roles_are_read_whatever_their_case() -> None:
    assert parse_role(" Beheerder ") is Role.BEHEERDER


def test_an_unknown_role_is_refused_listing_the_roles() -> None:
    with pytest.raises(InvalidRole, match="beheerder"):
        parse_role("admin")
