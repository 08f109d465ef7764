"""Who may call: JWT verification, trusted issuers, JWKS fetching, CORS and security headers."""
