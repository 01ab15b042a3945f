"""The ``fedharness`` command line."""

from __future__ import annotations

from pathlib import Path

import click

from scenarios.cli_aws import aws
from scenarios.cli_common import fail, reports_bad_input

config_option = click.option(
    "--config", "config_path", required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="IdP or scenario file (YAML).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fedharness")
def main() -> None:
    """Prove that your IdP maps directory groups to the AWS roles you intend."""


@main.group()
def idp() -> None:
    """The mock identity provider."""


@idp.command("metadata")
@config_option
@reports_bad_input
def idp_metadata(config_path: Path) -> None:
    """Print the IdP metadata, ready for `aws iam create-saml-provider`."""
    from idp.provider import IdentityProvider

    provider = IdentityProvider.from_file(config_path)
    click.echo(provider.metadata().decode("utf-8"), nl=False)


@idp.command("assertion")
@config_option
@click.option("--user", "user_name", required=True, help="User name in the directory.")
@click.option("--role", "role_arn", help="Send only this role's pair in the Role attribute.")
@click.option("--recipient", help="Recipient/Destination URL (default: the SP's ACS).")
@click.option("--sp", default="aws", show_default=True, help="Registered service provider.")
@click.option("--xml", "as_xml", is_flag=True, help="Print the XML instead of base64.")
@reports_bad_input
def idp_assertion(config_path: Path, user_name: str, role_arn: str | None,
                  recipient: str | None, sp: str, as_xml: bool) -> None:
    """Print a signed SAMLResponse (base64) for a user, ready for `aws sts
    assume-role-with-saml --saml-assertion`."""
    from idp.provider import IdentityProvider

    provider = IdentityProvider.from_file(config_path)
    issued = provider.issue(user_name, sp=sp, role_arn=role_arn, recipient=recipient)
    click.echo(issued.xml.decode("utf-8") if as_xml else issued.saml_response)


@main.group()
def certs() -> None:
    """Test-only signing certificates."""


@certs.command("generate")
@click.option("--bits", type=click.Choice(["2048", "3072", "4096"]), default="2048",
              show_default=True)
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              default=Path("certs"), show_default=True, help="Folder to write into.")
@click.option("--name", "stem", default="idp", show_default=True,
              help="File stem: writes NAME.key and NAME.crt.")
@click.option("--common-name", default="fedharness mock IdP", show_default=True)
@click.option("--force", is_flag=True, help="Overwrite existing files.")
def certs_generate(bits: str, out_dir: Path, stem: str, common_name: str, force: bool) -> None:
    """Write a self-signed certificate and its private key (for tests only)."""
    from idp.certs import generate_self_signed, write_pair

    for existing in (out_dir / f"{stem}.key", out_dir / f"{stem}.crt"):
        if existing.exists() and not force:
            fail(f"{existing} exists; use --force to replace it")
    key_path, cert_path = write_pair(
        generate_self_signed(common_name, bits=int(bits)), out_dir, stem)
    click.echo(f"wrote {key_path} (private, mode 0600) and {cert_path}")


main.add_command(aws)

if __name__ == "__main__":  # pragma: no cover
    main()
