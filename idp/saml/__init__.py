"""Pure SAML XML for the mock IdP: build, sign, encrypt, describe. No Flask, no I/O."""

from idp._libxml import check_libxml2

check_libxml2()
