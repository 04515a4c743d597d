"""``pix2pix-client web``: a local web page that shows a camera translated live.

The page (static/) captures the camera in the browser and talks to this package over one
WebSocket; the bridge (bridge.py) forwards frames to the gRPC service with the project's own
asyncio client, newest frame first. app.py serves the page and the socket (aiohttp)."""
