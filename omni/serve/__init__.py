"""`launch.py serve`: one HTTP server in front of one process's engines.

- `server.HttpServer`: the transport object (an omni.transports.base.Server) that binds, checks the
  token and runs uvicorn until the process stops it;
- `app`: the routes that are not a protocol of their own (`/healthz`, `/metrics`);
- `rest`: the OpenAI REST surface a voice app uses (`/v1/models`, `/v1/chat/completions`);
- `stats`: the Prometheus metrics the routes count.
"""
