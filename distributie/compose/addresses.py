"""The one way an e-mail address is checked and normalised, wherever it comes from (a list, the
mailing's sender, a corrected address for a resend)."""

from __future__ import annotations

import functools
import importlib

from email_validator import EmailNotValidError, validate_email

# A list of 10,000 addresses has only so many domains, and checking one is most of the cost of
# checking an address (IDNA, per character): remember the domains that passed. The check is a
# pure function of its arguments; a domain that fails raises, which is never remembered, so
# every bad address still gets its own error.
# (The module, not the function of the same name that the package exports.)
_checker = vars(importlib.import_module("email_validator.validate_email"))
if "validate_email_domain_name" in _checker:
    _checker["validate_email_domain_name"] = functools.lru_cache(maxsize=4096)(
        _checker["validate_email_domain_name"]
    )


class AddressError(ValueError):
    """Why an address cannot be used; the message is written for a secretary."""


def normalise_address(value: str) -> str:
    """The address in the ASCII form SMTP needs (an international domain as punycode).

    No DNS look-up. A non-ASCII mailbox name is refused: most relays cannot deliver to it, and
    From, Message-ID and MAIL FROM could not carry it.
    """
    local, at, _domain = value.rpartition("@")
    if at and not local.isascii():
        raise AddressError(
            "the part before the @ contains non-ASCII characters; most mail servers cannot "
            "deliver to such an address"
        )
    try:
        result = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise AddressError(f"not a valid e-mail address: {exc}") from None
    return str(result.ascii_email)
