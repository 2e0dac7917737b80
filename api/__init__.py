"""The HTTP API (FastAPI): REST routes under /api, the web page from frontend/."""
