"""The bridge's HTTP server (aiohttp): health, metrics, and the routes other adapters mount."""
