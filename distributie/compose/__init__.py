"""From inputs to message bytes: the recipient list, the mailing, rendering and the MIME message.

Nothing in here talks to Redis or SMTP; everything a check, a preview and a worker render is
made by the same functions.
"""
