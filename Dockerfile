# One image for every Nurture process; docker-compose.yml picks the command.
# An exact patch release, so a rebuild never silently changes the email package: 3.11.15
# refuses to write unsafely folded headers (CVE-2024-6923, CVE-2025-11468). Raise it on purpose.
FROM python:3.11.15-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    NURTURE_DATA_DIR=/var/lib/nurture

WORKDIR /app
COPY pyproject.toml README.md celeryconfig.py hatch_build.py ./
COPY nurture ./nurture
COPY templates ./templates
RUN pip install ".[flower]" \
    && useradd --system --home-dir /var/lib/nurture --create-home nurture

USER nurture
EXPOSE 8000
CMD ["nurture", "web", "--host", "0.0.0.0", "--port", "8000"]
