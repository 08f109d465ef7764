"""Operations: Prometheus metrics and the gunicorn hooks of ``trd-cds serve``."""
