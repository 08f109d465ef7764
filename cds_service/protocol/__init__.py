"""CDS Hooks over HTTP: routes, request schemas, the service catalogue, OpenAPI."""
