"""WSGI entry point for gunicorn: ``gunicorn cds_service.wsgi:app``."""
from cds_service import create_app
from cds_service.heap import tune_garbage_collection

app = create_app()
tune_garbage_collection()
