"""The user directory: nested groups, loaders for YAML, CSV and LDIF, and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from idp.directory import (
    Directory,
    DirectoryConfig,
    DirectoryError,
    DirectoryFileError,
    DuplicateNameError,
    Group,
    GroupConfig,
    UnknownGroupError,
    UnknownUserError,
    UnreadableDirectoryFileError,
    UnsupportedDirectoryFileError,
    User,
    UserConfig,
    load_csv,
    load_directory_file,
    load_ldif,
    load_yaml_directory,
)
from idp.errors import IdpError

DATA = Path(__file__).parent.parent / "data" / "directory"


def nested() -> Directory:
    """alice → Platform → Engineering → All Staff → AWS-ReadOnly (three levels above direct)."""
    return Directory(
        users=[
            User("alice", email="alice@corp.example", direct_groups=("Platform", "Billing")),
            User("bob", direct_groups=("Engineering",)),
            User("carol", direct_groups=("Contractors",)),
        ],
        groups=[
            Group("Platform", member_of=("Engineering",)),
            Group("Engineering", member_of=("All Staff",)),
            Group("All Staff", member_of=("AWS-ReadOnly",)),
            Group("Billing", member_of=("All Staff", "Finance")),
        ],
    )


# --- nested groups -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "groups"),
    [
        pytest.param(
            "alice",
            ("Platform", "Billing", "Engineering", "All Staff", "Finance", "AWS-ReadOnly"),
            id="three-levels-deep-direct-first",
        ),
        pytest.param("bob", ("Engineering", "All Staff", "AWS-ReadOnly"), id="two-levels"),
        pytest.param("carol", ("Contractors",), id="undeclared-group"),
    ],
)
def test_groups_of_is_transitive(user: str, groups: tuple[str, ...]) -> None:
    assert nested().groups_of(user) == groups


def test_direct_groups_of() -> None:
    directory = nested()
    assert directory.direct_groups_of("alice") == ("Platform", "Billing")
    assert directory.direct_groups_of(directory.user("bob")) == ("Engineering",)


def test_groups_of_a_user_not_in_the_directory() -> None:
    visitor = User("visitor", direct_groups=("Platform",))
    assert nested().groups_of(visitor) == ("Platform", "Engineering", "All Staff", "AWS-ReadOnly")


def test_duplicate_direct_groups_are_listed_once() -> None:
    user = User("dup", direct_groups=("A", "B", "A"))
    assert user.direct_groups == ("A", "B")


@pytest.mark.parametrize(
    ("group", "transitive", "members"),
    [
        pytest.param("AWS-ReadOnly", True, ("alice", "bob"), id="top-transitive"),
        pytest.param("AWS-ReadOnly", False, (), id="top-direct"),
        pytest.param("Engineering", False, ("bob",), id="middle-direct"),
        pytest.param("Engineering", True, ("alice", "bob"), id="middle-transitive"),
        pytest.param("Contractors", True, ("carol",), id="implicit-group"),
    ],
)
def test_members_of(group: str, transitive: bool, members: tuple[str, ...]) -> None:
    assert nested().members_of(group, transitive=transitive) == members


def test_undeclared_groups_exist_without_parents() -> None:
    directory = nested()
    assert directory.group("Contractors") == Group("Contractors", declared=False)
    assert directory.group("Finance").member_of == ()
    assert [g.name for g in directory.groups()] == [
        "Platform",
        "Engineering",
        "All Staff",
        "Billing",
        "Contractors",
        "AWS-ReadOnly",
        "Finance",
    ]


def test_cycles_are_reported_and_do_not_hang() -> None:
    directory = load_yaml_directory(DATA / "cycles.yaml")
    assert directory.cycles() == (("A", "B", "C"), ("A", "B"), ("D",))
    assert directory.groups_of("alice") == ("A", "B", "C")
    assert directory.groups_of("dan") == ("D", "Z")
    assert directory.members_of("C") == ("alice",)
    assert directory.members_of("Z") == ("dan", "zoe")


def test_no_cycles() -> None:
    assert nested().cycles() == ()


# --- lookups -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message", "suggestions"),
    [
        pytest.param("alcie", "unknown user 'alcie'; did you mean 'alice'?", ("alice",), id="typo"),
        pytest.param("bobb", "unknown user 'bobb'; did you mean 'bob'?", ("bob",), id="extra"),
        pytest.param(
            "zed", "unknown user 'zed' (known: alice, bob, carol)", (), id="nothing-close"
        ),
    ],
)
def test_unknown_user(name: str, message: str, suggestions: tuple[str, ...]) -> None:
    with pytest.raises(UnknownUserError) as caught:
        nested().user(name)
    assert str(caught.value) == message
    assert caught.value.suggestions == suggestions
    assert caught.value.code == "unknown_user"
    assert isinstance(caught.value, DirectoryError) and isinstance(caught.value, IdpError)


def test_unknown_user_in_a_big_directory_gives_a_count() -> None:
    directory = Directory(User(f"user{n:02}") for n in range(20))
    with pytest.raises(UnknownUserError, match=r"^unknown user 'x' \(20 are known\)$"):
        directory.user("x")


def test_unknown_group() -> None:
    with pytest.raises(UnknownGroupError) as caught:
        nested().members_of("Enginering")
    assert str(caught.value) == "unknown group 'Enginering'; did you mean 'Engineering'?"
    assert caught.value.code == "unknown_group"


def test_users_keep_their_order() -> None:
    assert [u.name for u in nested().users()] == ["alice", "bob", "carol"]


def test_duplicate_users_are_refused() -> None:
    with pytest.raises(DuplicateNameError, match="two users are called 'alice'"):
        Directory([User("alice"), User("alice")])


# --- immutable updates ---------------------------------------------------------------------------


def test_with_user_adds_without_changing_the_original() -> None:
    original = nested()
    updated = original.with_user(User("dave", direct_groups=("Platform",)))
    assert updated.groups_of("dave")[-1] == "AWS-ReadOnly"
    assert [u.name for u in updated.users()] == ["alice", "bob", "carol", "dave"]
    with pytest.raises(UnknownUserError):
        original.user("dave")


def test_with_user_replaces_in_place() -> None:
    updated = nested().with_user(User("alice", email="new@corp.example"))
    assert updated.user("alice").email == "new@corp.example"
    assert updated.groups_of("alice") == ()
    assert [u.name for u in updated.users()] == ["alice", "bob", "carol"]


def test_user_is_frozen_and_hashable() -> None:
    user = User("alice", attributes={"dept": ("Eng",)})
    with pytest.raises(AttributeError):
        user.email = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        user.attributes["dept"] = ("Ops",)  # type: ignore[index]
    assert hash(user) == hash(User("alice", attributes={"dept": ("Ops",)}))
    assert "password" not in repr(User("alice", password="hunter2"))


# --- configuration -------------------------------------------------------------------------------


def test_from_config_inline() -> None:
    config = DirectoryConfig.model_validate(
        {
            "users": {
                "alice": {
                    "email": "alice@corp.example",
                    "groups": ["Platform"],
                    "attributes": {"dept": "Eng", "phones": ["1", "2"]},
                    "name_id": "a-1",
                },
                "erin": None,
            },
            "groups": {
                "Platform": {"member_of": ["Engineering"], "sid": "S-1-5-21-9-1104"},
                "Engineering": None,
            },
        }
    )
    directory = Directory.from_config(config, DATA)
    alice = directory.user("alice")
    assert alice.attributes == {"dept": ("Eng",), "phones": ("1", "2")}
    assert alice.name_id == "a-1"
    assert directory.groups_of("alice") == ("Platform", "Engineering")
    assert directory.group("Platform").sid == "S-1-5-21-9-1104"
    assert directory.user("erin") == User("erin")


def test_from_config_merges_the_file_and_inline_wins() -> None:
    config = DirectoryConfig.model_validate(
        {
            "file": "users.csv",
            "users": {
                "alice": {"email": "alice@inline.example", "groups": ["Inline"]},
                "zoe": {"groups": ["Data"]},
            },
            "groups": {"Data": {"member_of": ["Analytics"]}},
        }
    )
    directory = Directory.from_config(config, DATA)
    assert [u.name for u in directory.users()] == ["alice", "bob", "carol", "zoe"]
    assert directory.user("alice").email == "alice@inline.example"
    assert directory.groups_of("alice") == ("Inline",)
    assert directory.groups_of("bob") == ("Data", "Analytics")
    assert directory.members_of("Analytics") == ("bob", "zoe")


def test_from_config_with_a_missing_file() -> None:
    config = DirectoryConfig(file=Path("absent.csv"))
    with pytest.raises(UnreadableDirectoryFileError) as caught:
        Directory.from_config(config, DATA)
    assert str(caught.value) == f"{DATA / 'absent.csv'}: cannot read: No such file or directory"


@pytest.mark.parametrize(
    ("model", "data", "loc", "kind"),
    [
        pytest.param(UserConfig, {"emial": "x"}, ("emial",), "extra_forbidden", id="user-extra"),
        pytest.param(UserConfig, {"groups": "Eng"}, ("groups",), "list_type", id="user-groups"),
        pytest.param(
            GroupConfig, {"sid": "S-1-x"}, ("sid",), "string_pattern_mismatch", id="group-sid"
        ),
        pytest.param(
            DirectoryConfig, {"people": {}}, ("people",), "extra_forbidden", id="directory-extra"
        ),
    ],
)
def test_config_models_are_strict(
    model: type[UserConfig | GroupConfig | DirectoryConfig],
    data: dict[str, object],
    loc: tuple[str, ...],
    kind: str,
) -> None:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    first = caught.value.errors()[0]
    assert (first["loc"], first["type"]) == (loc, kind)


def test_numbers_become_strings_in_user_fields() -> None:
    user = UserConfig.model_validate({"attributes": {"costCenter": 1234}}).to_user("u")
    assert user.attributes["costCenter"] == ("1234",)


def test_json_schema_describes_every_field() -> None:
    schema = DirectoryConfig.model_json_schema()
    for definition in (schema, *schema["$defs"].values()):
        for name, prop in definition["properties"].items():
            assert prop.get("description"), f"{definition['title']}.{name} has no description"
    assert schema["$defs"]["UserConfig"]["additionalProperties"] is False


# --- YAML directory files ------------------------------------------------------------------------


def test_load_yaml_directory() -> None:
    directory = load_yaml_directory(DATA / "directory.yaml")
    dave = directory.user("dave")
    assert dave.display_name == "Dave Ops"
    assert dave.attributes == {
        "department": ("Operations",),
        "costCenter": ("1234",),
        "mobile": ("+1 555 0100", "+1 555 0101"),
    }
    assert directory.groups_of("dave") == ("Ops", "On-Call", "Engineering")
    assert directory.group("Ops") == Group(
        "Ops", member_of=("Engineering",), description="Operations team", sid="S-1-5-21-1-2-3-1200"
    )
    assert directory.user("erin").direct_groups == ()


# --- CSV -----------------------------------------------------------------------------------------


def test_load_csv() -> None:
    directory = load_csv(DATA / "users.csv")
    alice, bob, carol = directory.users()
    assert alice == User(
        "alice",
        email="alice@corp.example",
        upn="alice@corp.example",
        display_name="Alice Smith",
        given_name="Alice",
        surname="Smith",
        direct_groups=("Platform", "AWS-Admins"),
        attributes={"Department": ("Engineering",), "employee_id": ("1001",)},
    )
    assert bob.direct_groups == ("Data",)
    assert bob.upn is None
    assert bob.attributes == {"Department": ("Analytics",)}
    assert carol.display_name == "Diaz, Carol"
    assert carol.attributes["Department"] == ("Finance\nand Legal",)


# --- LDIF ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corp() -> Directory:
    return load_ldif(DATA / "corp.ldif")


def test_ldif_users(corp: Directory) -> None:
    assert [u.name for u in corp.users()] == ["alice", "bob", "carol"]
    alice = corp.user("alice")
    assert (alice.email, alice.display_name, alice.given_name, alice.surname) == (
        "alice@corp.example",
        "Alice Smith",
        "Alice",
        "Smith",
    )
    assert alice.attributes == {"cn": ("Alice Smith",), "departmentNumber": ("42",)}


def test_ldif_active_directory_user(corp: Directory) -> None:
    carol = corp.user("carol")
    assert carol.upn == "carol@corp.example"
    assert carol.display_name == "Carol Díaz"
    assert carol.attributes["objectSid"] == ("S-1-5-21-1004336348-1177238915-682003330-1104",)


def test_ldif_folded_lines_and_comments(corp: Directory) -> None:
    assert corp.user("bob").attributes["description"] == (
        "Bob works on the data platform and this description is long enough to be folded",
    )


@pytest.mark.parametrize(
    ("user", "direct", "all_groups"),
    [
        pytest.param(
            "alice",
            ("Platform",),
            ("Platform", "Engineering", "All Staff", "AWS-ReadOnly"),
            id="member-dns-three-levels",
        ),
        pytest.param(
            "bob",
            ("Data",),
            ("Data", "Engineering", "All Staff", "AWS-ReadOnly"),
            id="memberOf-on-user-and-group",
        ),
        pytest.param(
            "carol",
            ("AWS-Billing", "All Staff", "Shell"),
            ("AWS-Billing", "All Staff", "Shell", "AWS-ReadOnly"),
            id="ad-dn-case-and-posix-memberUid",
        ),
    ],
)
def test_ldif_membership(
    corp: Directory, user: str, direct: tuple[str, ...], all_groups: tuple[str, ...]
) -> None:
    assert corp.direct_groups_of(user) == direct
    assert corp.groups_of(user) == all_groups


def test_ldif_groups(corp: Directory) -> None:
    readonly = corp.group("AWS-ReadOnly")
    assert readonly.sid == "S-1-5-21-1004336348-1177238915-682003330-1104"
    assert readonly.description == "Read-only access to every account"
    assert readonly.dn == "cn=AWS-ReadOnly,ou=Groups,dc=corp,dc=example"
    assert corp.group("AWS-Billing").declared is False
    assert corp.members_of("AWS-ReadOnly") == ("alice", "bob", "carol")


def test_ldif_ignores_computers_and_containers(corp: Directory) -> None:
    with pytest.raises(UnknownUserError):
        corp.user("WS01$")


# --- bad files -----------------------------------------------------------------------------------

BAD_FILES = [
    (
        "csv-no-name-column.csv",
        DirectoryFileError,
        "1: missing column 'name' (columns: email, groups)",
    ),
    ("csv-row-without-name.csv", DirectoryFileError, "4: row has no name"),
    ("csv-ragged-row.csv", DirectoryFileError, "3: row has 4 fields but the header has 3"),
    ("csv-duplicate-user.csv", DuplicateNameError, "4: duplicate user 'alice' (first on line 2)"),
    ("csv-duplicate-column.csv", DirectoryFileError, "1: duplicate column 'email'"),
    ("csv-unclosed-quote.csv", DirectoryFileError, "2: malformed CSV: unexpected end of data"),
    ("csv-empty.csv", DirectoryFileError, " no header row (expected at least a 'name' column)"),
    (
        "ldif-entry-without-dn.ldif",
        DirectoryFileError,
        "5: an entry must start with 'dn:', not 'objectClass'",
    ),
    ("ldif-bad-base64.ldif", DirectoryFileError, "4: displayName: invalid base64 value"),
    (
        "ldif-change-record.ldif",
        DirectoryFileError,
        "4: change records (changetype:) are not supported; export entries as content",
    ),
    (
        "ldif-line-without-colon.ldif",
        DirectoryFileError,
        "4: expected 'attribute: value', got 'mail alice@corp.example'",
    ),
    (
        "ldif-duplicate-dn.ldif",
        DuplicateNameError,
        "5: duplicate entry 'UID=Alice, OU=People, DC=corp, DC=example' (first on line 1)",
    ),
    (
        "ldif-duplicate-group-name.ldif",
        DuplicateNameError,
        "6: duplicate group 'Admins' (first on line 1)",
    ),
    (
        "ldif-user-without-uid.ldif",
        DirectoryFileError,
        "2: user entry 'cn=Alice Smith,ou=People,dc=corp,dc=example' has no uid or sAMAccountName",
    ),
    ("ldif-bad-member-dn.ldif", DirectoryFileError, "9: invalid DN 'alice'"),
    (
        "ldif-missing-blank-line.ldif",
        DirectoryFileError,
        "4: a second 'dn:' in one entry (missing blank line?)",
    ),
    (
        "ldif-url-value.ldif",
        DirectoryFileError,
        "4: jpegPhoto: URL values (':<') are not supported",
    ),
    (
        "dir-duplicate-key.yaml",
        DirectoryFileError,
        "5: duplicate key 'alice' (first defined on line 2)",
    ),
    (
        "dir-wrong-type.yaml",
        DirectoryFileError,
        "4: users.alice.groups: Input should be a valid list",
    ),
    (
        "dir-unknown-field.yaml",
        DirectoryFileError,
        "5: users.bob: unknown field 'emial'; did you mean 'email'?",
    ),
    (
        "dir-several-errors.yaml",
        DirectoryFileError,
        "5: users.alice.groups[1]: Input should be a valid string (and 2 more errors)",
    ),
    ("dir-names-a-file.yaml", DirectoryFileError, "3: a directory file cannot name another file"),
    (
        "dir-not-a-mapping.yaml",
        DirectoryFileError,
        "1: Input should be a mapping (key: value), not a list",
    ),
    (
        "dir-syntax-error.yaml",
        DirectoryFileError,
        "4: invalid YAML: expected <block end>, but found '<block mapping start>' "
        "(while parsing a block mapping on line 2); check the indentation of this line and the "
        "one above (the keys of one mapping, and the items of one list, start in the same column)",
    ),
    (
        "users.txt",
        UnsupportedDirectoryFileError,
        " unsupported directory file type '.txt' (use .csv, .ldif, .yaml or .yml)",
    ),
]


@pytest.mark.parametrize(
    ("name", "error", "expected"), [pytest.param(*case, id=case[0]) for case in BAD_FILES]
)
def test_bad_files(name: str, error: type[DirectoryError], expected: str) -> None:
    path = DATA / name
    with pytest.raises(error) as caught:
        load_directory_file(path)
    assert str(caught.value) == f"{path}:{expected}"
    assert caught.value.path == path


def test_yaml_file_errors_keep_their_cause() -> None:
    with pytest.raises(DirectoryFileError) as caught:
        load_yaml_directory(DATA / "dir-duplicate-key.yaml")
    assert caught.value.line == 5
    assert getattr(caught.value.__cause__, "code", None) == "duplicate_key"


def test_not_utf8_csv(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"name,display_name\nalice,Alice\njose,Jos\xe9\n")
    with pytest.raises(UnreadableDirectoryFileError) as caught:
        load_csv(path)
    assert str(caught.value) == f"{path}:3: cannot read: not UTF-8 text (byte 0xe9)"


@pytest.mark.parametrize(
    ("error", "code"),
    [
        pytest.param(DirectoryError, "directory", id="root"),
        pytest.param(DirectoryFileError, "directory_file", id="file"),
        pytest.param(DuplicateNameError, "duplicate_name", id="duplicate"),
        pytest.param(UnreadableDirectoryFileError, "unreadable_directory_file", id="unreadable"),
        pytest.param(UnsupportedDirectoryFileError, "unsupported_directory_file", id="unsupported"),
        pytest.param(UnknownUserError, "unknown_user", id="unknown-user"),
        pytest.param(UnknownGroupError, "unknown_group", id="unknown-group"),
    ],
)
def test_error_codes_are_stable(error: type[DirectoryError], code: str) -> None:
    assert error.code == code
    assert issubclass(error, DirectoryError)
