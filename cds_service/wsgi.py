"""WSGI entry point for gunicorn: ``gunicorn cds_service.wsgi:app``."""
from cds_service import create_app
from cds_service.heap import freeze_start_up_heap

app = create_app()
freeze_start_up_heap()
