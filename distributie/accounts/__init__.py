"""Accounts of the web page (and later the CLI): roles, argon2id passwords, login throttling and
the first-use link, all kept in the ledger's Redis. Pass a client from `ledger.connect(url)`."""

from distributie.accounts.errors import (
    AccountError,
    AccountExists,
    FirstUseRefused,
    InvalidAccountName,
    InvalidEmail,
    InvalidRole,
    LoginFailed,
    LoginThrottled,
    NotAllowed,
    UnknownAccount,
    WeakPassword,
)
from distributie.accounts.first_use import (
    TokenState,
    create_first_account,
    issue_token,
    token_state,
)
from distributie.accounts.login import verify_login
from distributie.accounts.roles import MINIMUM_ROLE, Action, Role, allows, parse_role, require
from distributie.accounts.store import Account, Accounts, normalise_name
from distributie.accounts.throttle import LoginThrottle

__all__ = [
    "MINIMUM_ROLE",
    "Account",
    "AccountError",
    "AccountExists",
    "Accounts",
    "Action",
    "FirstUseRefused",
    "InvalidAccountName",
    "InvalidEmail",
    "InvalidRole",
    "LoginFailed",
    "LoginThrottle",
    "LoginThrottled",
    "NotAllowed",
    "Role",
    "TokenState",
    "UnknownAccount",
    "WeakPassword",
    "allows",
    "create_first_account",
    "issue_token",
    "normalise_name",
    "parse_role",
    "require",
    "token_state",
    "verify_login",
]
