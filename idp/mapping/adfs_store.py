"""Active Directory as ADFS sees it, emulated from the directory: claims provider and store.

The claims provider hands the rules ``windowsaccountname`` and ``name`` (``DOMAIN\\sam``),
``upn``, ``primarysid`` and one ``groupsid`` per group, transitive (Microsoft ee918712: "All users
who authenticate against AD DS will have incoming group SID claims for each group that they
belong to"); group *names* are not among them.

An attribute-store rule queries ``"<LDAP filter>;<attribute,…>;<DOMAIN\\user>"`` with .NET
``String.Format`` placeholders bound to its ``param`` list; ``types`` map positionally to the
attributes and a multi-valued attribute yields one claim per value (reference idp-mappings.md
§1.3). Emulated attributes: ``tokenGroups`` (group names, transitive), ``tokenGroups(SID)``,
``tokenGroups(domainQualifiedName)`` (``DOMAIN\\Group``), ``tokenGroups(longDomainQualifiedName)``
(``dns.domain\\Group``; format unverified), ``memberOf`` (DNs of direct groups only), ``mail``,
``userPrincipalName``, ``sAMAccountName``, ``displayName``, ``givenName``, ``sn``, ``objectSid``,
and any other attribute the directory holds for the user. Limits: the store knows only the
signed-in user; an LDAP filter may only be empty or one ``attribute=value`` test; domain-local
groups (which ``tokenGroups`` omits) are not modelled: every directory group counts. SIDs and DNs
the directory does not give are made up, stably, under ``domain_sid`` and ``OU=Groups``.
"""

from __future__ import annotations

import difflib
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from idp.directory import Directory, Group, UnknownGroupError, User
from idp.errors import MappingError
from idp.mapping.adfs_parser import StoreQuery
from idp.mapping.base import MappingInput

ACTIVE_DIRECTORY = "Active Directory"
WINDOWS_ACCOUNT_NAME = "http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname"
NAME = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
UPN = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
PRIMARY_SID = "http://schemas.microsoft.com/ws/2008/06/identity/claims/primarysid"
GROUP_SID = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groupsid"
GROUP = "http://schemas.xmlsoap.org/claims/Group"
_ATTRIBUTE = re.compile(r"([A-Za-z][\w-]*)(?:\((\w+)\))?")
_FILTER = re.compile(r"\(?\s*([A-Za-z][\w-]*)\s*=\s*([^()&|!*]*?)\s*\)?")
_FORMAT_ITEM = re.compile(r"\{\{|\}\}|\{(\d+)\}|[{}]")
_USER_FIELDS = {
    "mail": "email",
    "userprincipalname": "upn",
    "displayname": "display_name",
    "givenname": "given_name",
    "sn": "surname",
}
_TOKEN_GROUPS = ("sid", "domainqualifiedname", "longdomainqualifiedname")

Values = Callable[[MappingInput], tuple[str, ...]]


@dataclass(frozen=True)
class StoreSettings:
    """The domain the emulated store serves."""

    domain: str
    """NetBIOS name, as in ``CORP\\alice``."""
    dns_domain: str
    domain_sid: str


@dataclass(frozen=True)
class _Query:
    filter: str
    attributes: tuple[str, ...]
    account: str


def _escape_rdn(value: str) -> str:
    """Escape an RDN value as RFC 4514 (and AD) write it: ``CN=Dev\\, Ops``."""
    escaped = re.sub(r'([,+"\\<>;=])', r"\\\1", value)
    if escaped.startswith((" ", "#")):
        escaped = "\\" + escaped
    if escaped.endswith(" ") and not escaped.endswith("\\ "):
        escaped = escaped[:-1] + "\\ "
    return escaped


def _format(template: str, params: list[str], query: str) -> str:
    """Apply .NET ``String.Format`` to a query part (``{0}``, ``{{``, ``}}``)."""

    def item(found: re.Match[str]) -> str:
        text = found.group(0)
        if text in ("{{", "}}"):
            return text[0]
        if found.group(1) is None:
            raise MappingError(
                f"query {query!r}: malformed format item {text!r} "
                "(.NET String.Format: use {{ and }} for braces)"
            )
        index = int(found.group(1))
        if index >= len(params):
            raise MappingError(f"query {query!r}: {{{index}}} has no param ({len(params)} given)")
        return params[index]

    return _FORMAT_ITEM.sub(item, template)


class ActiveDirectoryStore:
    """Answer attribute-store queries for the signed-in user from the directory."""

    def __init__(self, settings: StoreSettings, directory: Directory | None = None) -> None:
        self.settings = settings
        self.directory = directory
        self._sids: dict[str, str] = {}
        self._queries: dict[str, _Query] = {}
        self._resolvers: dict[str, Values] = {}
        self._dc = ",".join(f"DC={part}" for part in settings.dns_domain.split("."))

    def _made_up_sid(self, kind: str, name: str) -> str:
        rid = 10000 + zlib.crc32(f"{kind}:{name}".encode()) % 100_000_000
        return f"{self.settings.domain_sid}-{rid}"

    def group_sids(self, groups: tuple[str, ...]) -> list[str]:
        """Return the SID of each group: the directory's, else a stable made-up one."""
        sids = self._sids
        found = []
        for name in groups:
            sid = sids.get(name)
            if sid is None:
                group = self._group(name)
                sid = sids[name] = (group and group.sid) or self._made_up_sid("group", name)
            found.append(sid)
        return found

    def group_dn(self, name: str) -> str:
        """Return the group's DN: the directory's, else ``CN=name,OU=Groups,DC=…``."""
        group = self._group(name)
        if group is not None and group.dn:
            return group.dn
        return f"CN={_escape_rdn(name)},OU=Groups,{self._dc}"

    def _group(self, name: str) -> Group | None:
        if self.directory is None:
            return None
        try:
            return self.directory.group(name)
        except UnknownGroupError:
            return None

    def user_sid(self, user: User) -> str:
        """Return the user's objectSid, else a stable made-up one."""
        for key, values in user.attributes.items():
            if key.lower() == "objectsid" and values:
                return values[0]
        return self._made_up_sid("user", user.name)

    def input_claims(
        self, subject: MappingInput, *, group_sids: bool = True, group_names: bool = False
    ) -> list[tuple[str, str]]:
        """Return (claim type, value) of the claims provider's claims for the user."""
        user = subject.user
        account = f"{self.settings.domain}\\{user.name}"
        claims = [(WINDOWS_ACCOUNT_NAME, account), (NAME, account)]
        if user.upn:
            claims.append((UPN, user.upn))
        claims.append((PRIMARY_SID, self.user_sid(user)))
        if group_sids:
            claims.extend((GROUP_SID, sid) for sid in self.group_sids(subject.groups))
        if group_names:
            claims.extend((GROUP, group) for group in subject.groups)
        return claims

    def check(self, statement: StoreQuery) -> None:
        """Refuse, when rules load, a store or query this emulation cannot answer."""
        if statement.store != ACTIVE_DIRECTORY:
            close = difflib.get_close_matches(statement.store, [ACTIVE_DIRECTORY], n=1)
            hint = (
                f"did you mean {ACTIVE_DIRECTORY!r}?"
                if close
                else (f"only {ACTIVE_DIRECTORY!r} is emulated")
            )
            raise MappingError(f"unknown attribute store {statement.store!r} ({hint})")
        query = self._query(statement.query)
        _check_field_count(statement, query)
        # What String.Format would refuse at sign-in ({n} beyond the params, a lone brace)
        # depends only on the rule's text, so it is refused now, with the rule's line.
        placeholders = ["x"] * len(statement.params)
        _format(query.filter, placeholders, statement.query)
        _format(query.account, placeholders, statement.query)
        for attribute in query.attributes:
            self._resolver(attribute)
        test = _FILTER.fullmatch(query.filter)
        if test is not None:
            self._resolver(test.group(1))

    def _query(self, text: str) -> _Query:
        query = self._queries.get(text)
        if query is not None:
            return query
        parts = text.split(";")
        if len(parts) != 3:
            raise MappingError(
                f"query {text!r}: an Active Directory query has three parts, "
                "'<LDAP filter>;<attribute,…>;<DOMAIN\\user>'"
            )
        attributes = tuple(attribute.strip() for attribute in parts[1].split(","))
        if not all(attributes):
            raise MappingError(f"query {text!r}: an attribute name is empty")
        if parts[0].strip() and not _FILTER.fullmatch(parts[0].strip()):
            raise MappingError(
                f"query {text!r}: LDAP filter {parts[0]!r} is not emulated "
                "(only an empty filter or one 'attribute={n}' test)"
            )
        query = self._queries[text] = _Query(parts[0].strip(), attributes, parts[2].strip())
        return query

    def _resolver(self, attribute: str) -> Values:
        found = self._resolvers.get(attribute.lower())
        if found is not None:
            return found
        parsed = _ATTRIBUTE.fullmatch(attribute)
        if parsed is None:
            raise MappingError(f"LDAP attribute {attribute!r} is not a valid name")
        name, qualifier = parsed.group(1).lower(), (parsed.group(2) or "").lower()
        domain, dns = self.settings.domain, self.settings.dns_domain
        resolver: Values
        if name == "tokengroups" and qualifier in ("", *_TOKEN_GROUPS):
            resolver = {
                "": lambda s: s.groups,
                "sid": lambda s: tuple(self.group_sids(s.groups)),
                "domainqualifiedname": lambda s: tuple(f"{domain}\\{g}" for g in s.groups),
                "longdomainqualifiedname": lambda s: tuple(f"{dns}\\{g}" for g in s.groups),
            }[qualifier]
        elif qualifier:
            supported = ", ".join(
                f"tokenGroups({q})"
                for q in ("SID", "domainQualifiedName", "longDomainQualifiedName")
            )
            raise MappingError(
                f"LDAP attribute {attribute!r} is not emulated (qualified forms: {supported})"
            )
        elif name == "memberof":
            resolver = lambda s: tuple(self.group_dn(g) for g in s.direct_groups)  # noqa: E731
        elif name == "samaccountname":
            resolver = lambda s: (s.user.name,)  # noqa: E731
        elif name == "objectsid":
            resolver = lambda s: (self.user_sid(s.user),)  # noqa: E731
        else:
            field = _USER_FIELDS.get(name)
            resolver = lambda s: _user_values(s.user, name, field)  # noqa: E731
        self._resolvers[attribute.lower()] = resolver
        return resolver

    def query(
        self, statement: StoreQuery, params: list[str], subject: MappingInput, notes: list[str]
    ) -> list[tuple[str, str]]:
        """Return (claim type, value) pairs the query yields for the signed-in user."""
        query = self._query(statement.query)
        _check_field_count(statement, query)
        account = _format(query.account, params, statement.query)
        ldap_filter = _format(query.filter, params, statement.query)
        if not self._finds_user(account, ldap_filter, subject.user, notes):
            return []
        found: list[tuple[str, str]] = []
        for claim_type, attribute in zip(statement.types, query.attributes, strict=True):
            values = self._resolver(attribute)(subject)
            if not values:
                notes.append(f"{attribute} has no value for {account}")
            found.extend((claim_type, value) for value in values)
        return found

    def _finds_user(self, account: str, ldap_filter: str, user: User, notes: list[str]) -> bool:
        domain, _, name = account.partition("\\")
        if not name:
            notes.append(f"store: {account!r} is not DOMAIN\\user; nothing found (unverified)")
            return False
        if domain.lower() != self.settings.domain.lower():
            notes.append(f"store: domain {domain!r} is not {self.settings.domain!r}; nothing found")
            return False
        if not ldap_filter:
            if name.lower() == user.name.lower():
                return True
            notes.append(
                f"store: {account!r} is not the signed-in user (the emulated store "
                "knows only that user); nothing found"
            )
            return False
        test = _FILTER.fullmatch(ldap_filter)
        attribute, wanted = (test.group(1), test.group(2)) if test else (ldap_filter, "")
        values = self._resolver(attribute)(MappingInput(user, (), ()))
        if wanted.lower() in (value.lower() for value in values):
            return True
        notes.append(f"store: no user matches ({attribute}={wanted}); nothing found")
        return False


def _check_field_count(statement: StoreQuery, query: _Query) -> None:
    if len(query.attributes) != len(statement.types):
        raise MappingError(
            f"query {statement.query!r} to attribute store {statement.store!r} returns "
            f"{len(query.attributes)} field(s) for {len(statement.types)} claim type(s) "
            "(ADFS fails the sign-in with POLICY0019)"
        )


def _user_values(user: User, name: str, field: str | None) -> tuple[str, ...]:
    if field is not None:
        value = getattr(user, field)
        if value:
            return (value,)
    for key, values in user.attributes.items():
        if key.lower() == name:
            return values
    return ()
