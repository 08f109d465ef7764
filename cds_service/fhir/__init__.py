"""FHIR access: the HTTP client, Bundle wire helpers, prefetch/fetch gathering, the egress allowlist."""
