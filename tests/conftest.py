"""Fixtures for the real servers the suite talks to: Redis, SMTP (aiosmtpd), IMAP (pymap), an
OAuth2 token endpoint, Celery workers, and for the web page a `distributie web` process and a
headless browser."""

from tests.support.browser import *  # noqa: F403
from tests.support.imap import *  # noqa: F403
from tests.support.ledger import *  # noqa: F403
from tests.support.oauth import *  # noqa: F403
from tests.support.redis import *  # noqa: F403
from tests.support.smtp import *  # noqa: F403
from tests.support.web import *  # noqa: F403
from tests.support.workers import *  # noqa: F403
from tests.support.xoauth2_smtp import *  # noqa: F403
