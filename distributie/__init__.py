"""distributie: a personal e-mail with a personalised attachment to every burgemeester."""

__version__ = "0.1.0"
