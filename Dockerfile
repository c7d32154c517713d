# One image for the worker and the one-shot CLI of docker-compose.yml, installed from the wheel
# (as a user would install it), not from the source tree.

# Build the wheel: setup.py copies the bundled mailing and list into it.
FROM python:3.11-slim AS wheel
WORKDIR /src
COPY pyproject.toml setup.py MANIFEST.in README.md ./
COPY distributie ./distributie
COPY templates ./templates
COPY recipients ./recipients
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
COPY --from=wheel /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && useradd --create-home distributie \
    && mkdir -p /app/outbox && chown -R distributie /app
# The working folder: runtime data (outbox/) goes here; docker-compose.yml mounts the
# repository's templates/ and recipients/ here too, for mailings of your own.
WORKDIR /app
USER distributie
ENTRYPOINT ["distributie"]
