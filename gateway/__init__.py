"""FastAPI gateway: the merchant API, customer returns and provider webhooks."""
