"""YAML loading with line numbers, and pydantic errors reported as ``file:line: message``."""

from __future__ import annotations

import textwrap
from enum import Enum
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from idp.errors import IdpError
from idp.yamlfile import (
    ConfigError,
    DuplicateKeyError,
    LoadedYaml,
    SchemaError,
    UnreadableFileError,
    YamlSyntaxError,
    format_location,
    format_validation_error,
    load_yaml,
    validate,
)


class SignTarget(Enum):
    ASSERTION = "assertion"
    RESPONSE = "response"


class Signing(BaseModel):
    model_config = ConfigDict(extra="forbid")

    algorithm: Literal["rsa-sha1", "rsa-sha256", "rsa-sha512"] = "rsa-sha256"
    sign: SignTarget = SignTarget.ASSERTION
    lifetime: int = Field(300, gt=0)


class Idp(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entity_id: str
    signing: Signing = Field(default_factory=Signing)

    @field_validator("entity_id")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if "://" not in value:
            raise ValueError("entity_id must be an absolute URI")
        return value


class Person(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str
    groups: list[str] = []
    attributes: dict[str, str | list[str]] = {}


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")

    idp: Idp
    users: dict[str, Person] = {}
    accounts: dict[str, list[str]] = {}


SCENARIO = """\
idp:
  entity_id: http://idp.example/mock
  signing:
    algorithm: rsa-sha256
users:
  alice:
    email: alice@corp.example
    groups:
      - Engineering
      - "aws#prod#Admin#111111111111"
      - Platform
  bob: {email: bob@corp.example, groups: [Data]}
"""


def write(tmp_path: Path, text: str, name: str = "idp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def scenario(tmp_path: Path) -> LoadedYaml:
    return load_yaml(write(tmp_path, SCENARIO))


# --- loading and lines ---------------------------------------------------------------------------


def test_data_is_plain_python(scenario: LoadedYaml) -> None:
    assert scenario.data["users"]["bob"] == {"email": "bob@corp.example", "groups": ["Data"]}
    assert type(scenario.data) is dict
    assert scenario.path.name == "idp.yaml"


@pytest.mark.parametrize(
    ("loc", "line"),
    [
        pytest.param((), 1, id="root"),
        pytest.param(("idp",), 1, id="top-level-key"),
        pytest.param(("idp", "signing", "algorithm"), 4, id="nested-key"),
        pytest.param(("users", "alice", "groups"), 8, id="key-of-block-list"),
        pytest.param(("users", "alice", "groups", 0), 9, id="first-item"),
        pytest.param(("users", "alice", "groups", 2), 11, id="third-item"),
        pytest.param(("users", "bob", "groups", 0), 12, id="flow-item"),
        pytest.param(("users", "alice", "nickname"), 6, id="missing-key-gives-parent"),
        pytest.param(("users", "alice", "groups", 7), 8, id="missing-index-gives-list"),
        pytest.param(("nowhere", "at", "all"), 1, id="missing-top-gives-root"),
    ],
)
def test_line_of(scenario: LoadedYaml, loc: tuple[str | int, ...], line: int) -> None:
    assert scenario.line_of(loc) == line


def test_locate_returns_the_part_that_exists(scenario: LoadedYaml) -> None:
    assert scenario.locate(("users", "alice", "nickname", 3)) == (("users", "alice"), 6)
    assert scenario.has(("users", "alice", "groups", 2))
    assert not scenario.has(("users", "carol"))


def test_merge_keys_and_aliases_have_lines(tmp_path: Path) -> None:
    loaded = load_yaml(
        write(
            tmp_path,
            """\
        defaults: &defaults
          email: nobody@corp.example
          groups: [Staff]
        users:
          alice:
            <<: *defaults
            email: alice@corp.example
          bob: *defaults
        """,
        )
    )
    assert loaded.data["users"]["alice"] == {"email": "alice@corp.example", "groups": ["Staff"]}
    assert loaded.line_of(("users", "alice", "email")) == 7
    assert loaded.line_of(("users", "alice", "groups")) == 3
    assert loaded.line_of(("users", "bob", "groups", 0)) == 3


def test_self_referencing_alias_does_not_hang(tmp_path: Path) -> None:
    loaded = load_yaml(write(tmp_path, "loop: &loop\n  - *loop\n"))
    assert loaded.data["loop"][0] is loaded.data["loop"]
    assert loaded.line_of(("loop", 0, 0, 0)) == 1  # the line of the anchor


def test_empty_file_has_no_data(tmp_path: Path) -> None:
    loaded = load_yaml(write(tmp_path, "# nothing here\n"))
    assert loaded.data is None
    assert loaded.line_of(("idp",)) is None


# --- file and syntax errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        pytest.param(
            "a: 1\nb: 2\na: 3\n", 3, "duplicate key 'a' (first defined on line 1)", id="top-level"
        ),
        pytest.param(
            "users:\n  alice:\n    email: a\n    groups: []\n    email: b\n",
            5,
            "duplicate key 'email' (first defined on line 3)",
            id="nested",
        ),
        pytest.param(
            "users: {alice: 1, bob: 2, alice: 3}\n",
            1,
            "duplicate key 'alice' (first defined on line 1)",
            id="flow-mapping",
        ),
        pytest.param(
            "- name: a\n- name: b\n  name: c\n",
            3,
            "duplicate key 'name' (first defined on line 2)",
            id="inside-list-item",
        ),
        pytest.param(
            "true: 1\nTrue: 2\n",
            2,
            "duplicate key True (first defined on line 1)",
            id="same-value-different-spelling",
        ),
    ],
)
def test_duplicate_keys_are_refused(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(DuplicateKeyError) as caught:
        load_yaml(path)
    assert str(caught.value) == f"{path}:{line}: {message}"
    assert caught.value.code == "duplicate_key"


def test_merge_key_override_is_not_a_duplicate(tmp_path: Path) -> None:
    loaded = load_yaml(write(tmp_path, "base: &b {x: 1}\nm:\n  <<: *b\n  x: 2\n"))
    assert loaded.data["m"] == {"x": 2}


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        pytest.param(
            "users:\n  alice:\n    email: a\n   bob:\n    email: b\n",
            4,
            "expected <block end>",
            id="bad-indent",
        ),
        pytest.param("groups: [a, b\n", 2, "expected ',' or ']'", id="unclosed-flow-list"),
        pytest.param(
            "name: 'unterminated\n",
            2,
            "while scanning a quoted scalar on line 1",
            id="unclosed-quote",
        ),
        pytest.param("a: 1\n---\nb: 2\n", 2, "found another document", id="two-documents"),
        pytest.param("a: 1\nb:\n\t- x\n", 3, "found character '\\t'", id="tab-indent"),
        pytest.param(
            "a: 1\nb: \x07\n", 2, "special characters are not allowed", id="control-character"
        ),
    ],
)
def test_syntax_errors_name_the_line(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(YamlSyntaxError) as caught:
        load_yaml(path)
    assert caught.value.line == line
    assert str(caught.value).startswith(f"{path}:{line}: invalid YAML: ")
    assert fragment in caught.value.message


# The walkthrough's e4.yaml: `bob:` one space short of alice's column, on line 16.
MISINDENTED_USER = """\
name: e4
idp:
  entity_id: https://idp.corp.example/saml
  signing:
    key: idp.key
    cert: idp.crt
  mapping:
    explicit:
      provider_name: CorpIdP
      groups:
        admins: [arn:aws:iam::111111111111:role/Admin]
directory:
  users:
    alice:
      groups: [admins]
   bob:
      groups: [admins]
"""
INDENTATION_HINT = "check the indentation of this line and the one above"


@pytest.mark.parametrize(
    ("text", "line", "raw", "hint"),
    [
        pytest.param(
            MISINDENTED_USER,
            16,
            "expected <block end>, but found '<block mapping start>'",
            INDENTATION_HINT + " (the keys of one mapping, and the items of one list, start in "
            "the same column)",
            id="key-left-of-its-siblings",
        ),
        pytest.param(
            "groups:\n  - a\n - b\n",
            3,
            "expected <block end>, but found '<block sequence start>'",
            INDENTATION_HINT + " (the keys of one mapping, and the items of one list, start in "
            "the same column)",
            id="item-left-of-its-siblings",
        ),
        pytest.param(
            "idp:\n  entity_id: x\n    signing: y\n",
            3,
            "mapping values are not allowed here",
            INDENTATION_HINT + ", or quote a value with ': '",
            id="key-right-of-its-siblings",
        ),
        pytest.param(
            "groups:\n  - a\n  b\nother: 1\n",
            4,
            "could not find expected ':'",
            INDENTATION_HINT + " (a key needs ':' after it, a list item '- ' before it)",
            id="item-without-dash",
        ),
        pytest.param(
            " name: x\nidp: y\n",
            2,
            "expected '<document start>', but found '<block mapping start>'",
            INDENTATION_HINT + " (top-level keys start in column 1)",
            id="top-level-key-indented",
        ),
        pytest.param(
            "a: 1\nb:\n\t- x\n",
            3,
            "found character '\\t'",
            "indent with spaces, not tabs",
            id="tab",
        ),
    ],
)
def test_indentation_mistakes_get_a_plain_hint(
    tmp_path: Path, text: str, line: int, raw: str, hint: str
) -> None:
    path = write(tmp_path, text, name="e4.yaml")
    with pytest.raises(YamlSyntaxError) as caught:
        load_yaml(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: invalid YAML: {raw}")
    assert message.endswith(f"; {hint}")


def test_other_syntax_errors_get_no_indentation_hint(tmp_path: Path) -> None:
    path = write(tmp_path, "groups: [a, b\n")
    with pytest.raises(YamlSyntaxError) as caught:
        load_yaml(path)
    assert "indentation" not in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(UnreadableFileError) as caught:
        load_yaml(path)
    assert str(caught.value) == f"{path}: cannot read: No such file or directory"
    assert caught.value.line is None


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"a: 1\nname: Jos\xe9\n")
    with pytest.raises(UnreadableFileError) as caught:
        load_yaml(path)
    assert str(caught.value) == f"{path}:2: cannot read: not UTF-8 text (byte 0xe9)"


def test_config_error_is_an_idp_error_with_a_code() -> None:
    error = ConfigError("x.yaml", 3, "wrong")
    assert isinstance(error, IdpError)
    assert (str(error), error.code, error.message) == ("x.yaml:3: wrong", "config_error", "wrong")
    assert str(ConfigError(Path("x.yaml"), None, "wrong")) == "x.yaml: wrong"


# --- validation ----------------------------------------------------------------------------------


def test_validate_returns_the_model(scenario: LoadedYaml) -> None:
    result = validate(Scenario, scenario)
    assert result.users["alice"].groups[1] == "aws#prod#Admin#111111111111"
    assert result.idp.signing.algorithm == "rsa-sha256"


SCHEMA_CASES = [
    pytest.param(
        """\
        idp:
          entity_id: http://idp.example/mock
        users:
          alice:
            email: alice@corp.example
            groups: Engineering
        """,
        "6: users.alice.groups: Input should be a valid list",
        id="wrong-type",
    ),
    pytest.param(
        """\
        idp:
          entity_id: http://idp.example/mock
          signing:
            algorithm: rsa-md5
        """,
        "4: idp.signing.algorithm: must be one of rsa-sha1, rsa-sha256, rsa-sha512 (got 'rsa-md5')",
        id="literal",
    ),
    pytest.param(
        """\
        idp:
          entity_id: http://idp.example/mock
          signing: {sign: everything}
        """,
        "3: idp.signing.sign: must be one of assertion, response (got 'everything')",
        id="enum",
    ),
    pytest.param(
        """\
        idp:
          entity_id: http://idp.example/mock
        users:
          alice:
            groups: [Engineering]
        """,
        "4: users.alice: missing required field 'email'",
        id="missing-field",
    ),
    pytest.param(
        """\
        users: {}
        """,
        "1: missing required field 'idp'",
        id="missing-top-level-field",
    ),
    pytest.param(
        """\
        idp:
          entity_id: http://idp.example/mock
          signing:
            algoritm: rsa-sha256
        """,
        "4: idp.signing: unknown field 'algoritm'; did you mean 'algorithm'?",
        id="unknown-field-suggestion",
    ),
    pytest.param(
        """\
        idp:
          entity_id: http://idp.example/mock
          colour: blue
        """,
        "3: idp: unknown field 'colour' (allowed: entity_id, signing)",
        id="unknown-field-lists-allowed",
    ),
    pytest.param(
        """\
        idp:
          entity_id: http://idp.example/mock
        users:
          alice:
            email: alice@corp.example
            attributes:
              department: {name: Engineering}
        """,
        "7: users.alice.attributes.department: Input should be a valid string or a valid list",
        id="union-branches-merged",
    ),
    pytest.param(
        """\
        idp:
          entity_id: http://idp.example/mock
        users:
          alice:
            email: alice@corp.example
            groups:
              - Engineering
              - [Nested]
        """,
        "8: users.alice.groups[1]: Input should be a valid string",
        id="list-index",
    ),
    pytest.param(
        """\
        idp:
          entity_id: http://idp.example/mock
        accounts:
          "prod.eu west":
            - 1
        """,
        '5: accounts."prod.eu west"[0]: Input should be a valid string',
        id="quoted-key",
    ),
    pytest.param(
        """\
        idp:
          entity_id: idp.example
        """,
        "2: idp.entity_id: entity_id must be an absolute URI",
        id="validator-message",
    ),
    pytest.param(
        """\
        idp:
          entity_id: http://idp.example/mock
          signing: {lifetime: 0}
        """,
        "3: idp.signing.lifetime: Input should be greater than 0",
        id="constraint",
    ),
    pytest.param(
        """\
        idp: http://idp.example/mock
        """,
        "1: idp: Input should be a mapping (key: value), not a string",
        id="scalar-instead-of-mapping",
    ),
    pytest.param(
        """\
        idp:
          entity_id: http://idp.example/mock
        users:
          alice:
            email: alice@corp.example
            groups: Engineering
          bob:
            groups: [Data]
        """,
        "6: users.alice.groups: Input should be a valid list (and 1 more error)",
        id="one-more-error",
    ),
    pytest.param(
        """\
        idp:
          entity_id: nope
          signing: {algorithm: md5}
        users:
          alice: {email: 7, groups: x}
        """,
        "2: idp.entity_id: entity_id must be an absolute URI (and 3 more errors)",
        id="three-more-errors",
    ),
    pytest.param(
        """\
        - just
        - a list
        """,
        "1: Input should be a mapping (key: value), not a list",
        id="root-not-a-mapping",
    ),
]


@pytest.mark.parametrize(("text", "expected"), SCHEMA_CASES)
def test_schema_errors(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SchemaError) as caught:
        validate(Scenario, load_yaml(path))
    assert str(caught.value) == f"{path}:{expected}"
    assert caught.value.code == "schema"


def test_empty_file_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "\n")
    with pytest.raises(SchemaError) as caught:
        validate(Scenario, load_yaml(path))
    assert str(caught.value) == f"{path}: the document is empty; expected a mapping (key: value)"


def test_invalid_dict_key(tmp_path: Path) -> None:
    class Strict(BaseModel):
        limits: dict[int, int]

    path = write(tmp_path, "limits:\n  1: 2\n  many: 3\n")
    with pytest.raises(SchemaError) as caught:
        validate(Strict, load_yaml(path))
    assert str(caught.value) == (
        f"{path}:3: limits.many: invalid key 'many': "
        "Input should be a valid integer, unable to parse string as an integer"
    )


def test_validate_a_subtree_reports_full_paths(scenario: LoadedYaml) -> None:
    signing = validate(Signing, scenario, at=("idp", "signing"))
    assert signing.algorithm == "rsa-sha256"
    with pytest.raises(SchemaError) as caught:
        validate(Person, scenario, at=("users", "alice", "groups"))
    assert str(caught.value) == (
        f"{scenario.path}:8: users.alice.groups: Input should be a mapping (key: value), not a list"
    )


def test_validate_a_missing_subtree(scenario: LoadedYaml) -> None:
    with pytest.raises(SchemaError) as caught:
        validate(Signing, scenario, at=("idp", "encryption"))
    assert str(caught.value) == f"{scenario.path}:1: idp.encryption: missing"


def test_format_validation_error_for_a_caller_validated_subtree(scenario: LoadedYaml) -> None:
    subtree = scenario.at(("users", "bob"))
    with pytest.raises(ValidationError) as caught:
        Idp.model_validate(subtree)
    error = format_validation_error(caught.value, scenario, at=("users", "bob"), model=Idp)
    assert isinstance(error, ConfigError)
    assert str(error) == (
        f"{scenario.path}:12: users.bob: missing required field 'entity_id' (and 2 more errors)"
    )


def test_format_validation_error_without_model_still_names_the_field(
    scenario: LoadedYaml,
) -> None:
    with pytest.raises(ValidationError) as caught:
        Signing.model_validate(scenario.at(("users", "bob")))
    error = format_validation_error(caught.value, scenario, at=("users", "bob"))
    assert str(error) == f"{scenario.path}:12: users.bob: unknown field 'email' (and 1 more error)"


class PermissionCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: str
    resource: str = "*"


class Expectation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cannot: list[PermissionCheck] = []


class Expectations(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expect: dict[str, Expectation]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            """\
            expect:
              bob:
                cannot: [{actions: s3:GetObject}]
            """,
            "3: expect.bob.cannot[0]: unknown field 'actions'; did you mean 'action'?",
            id="misspelt-required-field",
        ),
        pytest.param(
            """\
            expect:
              bob:
                cannot: [{actions: s3:GetObject, resourse: "*"}]
            """,
            "3: expect.bob.cannot[0]: unknown field 'actions'; did you mean 'action'? "
            "(and 1 more error)",
            id="misspelt-required-field-and-another",
        ),
        pytest.param(
            """\
            expect:
              bob:
                cannot: [{colour: blue}]
            """,
            "3: expect.bob.cannot[0]: missing required field 'action' (and 1 more error)",
            id="unrelated-unknown-field-keeps-the-missing-one-first",
        ),
    ],
)
def test_a_misspelt_field_is_reported_rather_than_the_field_it_misses(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SchemaError) as caught:
        validate(Expectations, load_yaml(path))
    assert str(caught.value) == f"{path}:{expected}"


@pytest.mark.parametrize(
    ("loc", "spelled"),
    [
        pytest.param(("users", "alice", "groups", 2), "users.alice.groups[2]", id="index"),
        pytest.param(("users", "a.b"), 'users."a.b"', id="dotted-key"),
        pytest.param(("accounts", 111111111111), "accounts.111111111111", id="number-key"),
        pytest.param(("idp-x", "sub_key"), "idp-x.sub_key", id="plain-keys"),
    ],
)
def test_format_location(loc: tuple[str | int, ...], spelled: str) -> None:
    data = {"users": {"alice": {"groups": ["a", "b", "c"]}}, "accounts": {111111111111: []}}
    assert format_location(data, loc) == spelled
