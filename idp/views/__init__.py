"""The web IdP's blueprints, one per area: metadata, SSO, login pages, JSON API, logout."""
