# Shortcuts for dev.py, which needs nothing but Python 3.11+ (see README).
PYTHON ?= python3

.PHONY: run test chaos bench install clean

run:
	$(PYTHON) dev.py run

test:
	$(PYTHON) dev.py test

chaos:
	$(PYTHON) dev.py chaos

bench:
	$(PYTHON) dev.py bench

install:
	$(PYTHON) dev.py install

clean:
	rm -rf .venv .distributie outbox
