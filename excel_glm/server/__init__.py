"""The local HTTP service: create_app (app.py), serve (run.py), routers, guards and jobs."""
