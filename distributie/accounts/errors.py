"""Errors a user can cause with accounts, logins and roles; the web page words them in Dutch."""

from __future__ import annotations

from distributie.errors import DistributieError, UsageError


class AccountError(UsageError):
    """An account cannot be added, changed or removed as asked; nothing was changed."""


class UnknownAccount(AccountError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"there is no account {name!r}; `distributie users list` lists them")


class AccountExists(AccountError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"there is already an account {name!r}")


class InvalidAccountName(AccountError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"{name!r} cannot be an account name: use 1 to 64 letters a-z, digits, '.', '-', "
            f"'_' or '@', starting with a letter or digit"
        )


class InvalidRole(AccountError):
    def __init__(self, role: str, roles: tuple[str, ...]) -> None:
        self.role = role
        super().__init__(f"{role!r} is not a role; the roles are {', '.join(roles)}")


class InvalidEmail(AccountError):
    def __init__(self, address: str, reason: str) -> None:
        self.address = address
        super().__init__(f"{address!r} is not a valid e-mail address: {reason}")


class WeakPassword(AccountError):
    def __init__(self, kind: str, reason: str, min_length: int, max_length: int) -> None:
        self.kind = kind  # "short", "long" or "blank"
        self.min_length = min_length
        self.max_length = max_length
        super().__init__(f"the password is not accepted: {reason}")


class LoginFailed(DistributieError):
    """Wrong name or wrong password: deliberately the same error for both."""

    def __init__(self) -> None:
        super().__init__("wrong name or password")


class LoginThrottled(DistributieError):
    """Too many failed logins for this account or from this address; try again later."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        minutes = max(1, -(-retry_after // 60))
        super().__init__(f"too many failed logins; try again in {minutes} minute(s)")


class NotAllowed(DistributieError):
    """The account's role does not allow this action; nothing was done."""

    exit_code = 2

    def __init__(self, role: str, action: str, needed: str) -> None:
        self.role = role
        self.action = action
        self.needed = needed
        super().__init__(f"the role {role} may not {action}; that needs {needed} or higher")


class FirstUseRefused(DistributieError):
    """The first-use link cannot be used: it is wrong, used, expired, or accounts exist."""

    exit_code = 2

    def __init__(self, accounts_exist: bool) -> None:
        self.accounts_exist = accounts_exist
        reason = (
            "an account already exists, so the first-use link is closed"
            if accounts_exist
            else "the first-use link is not valid: it was already used, has expired or is wrong"
        )
        super().__init__(reason)
