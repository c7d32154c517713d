"""The web page of distributie (Flask, server-rendered, in Dutch): accounts, login and, in part
B, the runs. `app.create_app` builds it on the ledger's Redis; `server.serve` runs it.

Nothing is imported here, so the `distributie` command does not load Flask until `web` runs.
"""
