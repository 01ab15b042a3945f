"""AWS-side fixtures: STS SAML verification and IAM policy evaluation."""
