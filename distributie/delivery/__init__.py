"""Delivery: Celery tasks carry ids, `sending` claims, renders, sends and records one recipient
through a transport (SMTP or the outbox), within the relay's limits (`throttle`)."""
