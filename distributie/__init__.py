"""distributie: personal e-mails with a personalised attachment to every burgemeester of a region."""

__version__ = "0.1.0"
