"""The HTTP service. ``crps-qa serve`` runs :func:`create_app` under uvicorn on 127.0.0.1:8000."""

from crps_qa.api.app import create_app

__all__ = ["create_app"]
