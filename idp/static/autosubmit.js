// Post the SAML form at once; without JavaScript its button does the same.
document.getElementById("saml-post").submit();
