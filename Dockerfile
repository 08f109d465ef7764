# trd-cds service image: gunicorn serving cds_service.wsgi:app on port 8080.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    TRD_CDS_BIND=0.0.0.0:8080 TRD_CDS_DATABASE_URL=sqlite:////data/trd-cds.db
WORKDIR /app
COPY setup.cfg pyproject.toml README.md ./
COPY requirements/service.lock ./requirements/
COPY cds_service ./cds_service
COPY hooks ./hooks
COPY fhir_mappings ./fhir_mappings
COPY fixtures ./fixtures
RUN pip install --no-cache-dir --require-hashes -r requirements/service.lock \
    && pip install --no-cache-dir --no-deps . && useradd --system --home /app trdcds && mkdir /data && chown trdcds /data
USER trdcds
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"
CMD ["trd-cds", "serve"]
