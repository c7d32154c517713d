"""Fixtures for the real servers the suite talks to: Redis, SMTP (aiosmtpd) and Celery workers."""

from tests.support.imap import *  # noqa: F403
from tests.support.ledger import *  # noqa: F403
from tests.support.oauth import *  # noqa: F403
from tests.support.redis import *  # noqa: F403
from tests.support.smtp import *  # noqa: F403
from tests.support.workers import *  # noqa: F403
from tests.support.xoauth2_smtp import *  # noqa: F403
