"""Tampered SAML responses: the attack catalogue, its generator and a runner aimed at SPs."""
