"""What every front end does (the CLI today, the web page next): check, preview, start, follow,
resend, retry and cancel runs, and report on them. Nothing in here prints."""
