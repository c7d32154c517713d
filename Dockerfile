# One image for the worker and the one-shot CLI of docker-compose.yml.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY distributie ./distributie
COPY templates ./templates
COPY recipients ./recipients
# Editable, so the bundled mailing under /app/templates is found as it is in a checkout.
RUN pip install --no-cache-dir -e . && useradd --create-home distributie
USER distributie
ENTRYPOINT ["distributie"]
