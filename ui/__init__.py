"""Streamlit front end: a client of the crps-qa HTTP service (``streamlit run ui/app.py``)."""
