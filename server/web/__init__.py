"""Non-API endpoints: health probes, and the OpenAPI document with its docs page."""
