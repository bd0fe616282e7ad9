"""Commands: `flask --app supportnet users …` (create, set-role, reset-2fa), `seed-demo`, `scheduler …`,
`checkins …-key`."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select

from supportnet import accounts, twofactor
from supportnet.clock import now_utc
from supportnet.errors import DomainError
from supportnet.extensions import db
from supportnet.models import SiteRole, User

users_cli = AppGroup("users", help="Manage accounts.")
scheduler_cli = AppGroup("scheduler", help="Run the reminder scheduler.")
checkins_cli = AppGroup("checkins", help="Encryption keys of check-in notes.")


@users_cli.command("create")
@click.argument("email")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True, help="The new password.")
@click.option("--name", "display_name", default=None, help="Display name (default: the part before @).")
@click.option("--timezone", default="UTC", show_default=True, help="IANA timezone, e.g. Europe/London.")
@click.option("--facilitator", "role", flag_value=SiteRole.FACILITATOR.value, help="Make a facilitator.")
@click.option("--admin", "role", flag_value=SiteRole.ADMIN.value, help="Make an admin.")
def create_user(email: str, password: str, display_name: str | None, timezone: str, role: str | None) -> None:
    """Create a confirmed account."""
    try:
        user = accounts.create_user(
            email, password, display_name or email.split("@", 1)[0], now_utc(), timezone=timezone,
            role=SiteRole(role or SiteRole.MEMBER.value),
        )
    except DomainError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"Created {user.role.value} account {user.email} (id {user.id}).")


@users_cli.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice([r.value for r in SiteRole]))
def set_role(email: str, role: str) -> None:
    """Give an existing account a site role."""
    user = db.session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise click.ClickException("No account with that email.")
    accounts.set_site_role(user, SiteRole(role))
    db.session.commit()
    click.echo(f"{user.email} is now {role}.")


@users_cli.command("reset-2fa")
@click.argument("email")
def reset_two_factor(email: str) -> None:
    """Turn off two-factor for a locked-out account and sign it out everywhere (written to the audit log).

    Check who is asking before running this: it leaves only the password between anyone and the account until
    they set up a new authenticator, which facilitators are made to do at their next sign-in.
    """
    user = db.session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise click.ClickException("No account with that email.")
    if not twofactor.is_enabled(user) and twofactor.settings_for(user) is None:
        raise click.ClickException("That account does not use two-factor authentication.")
    twofactor.reset(user, now_utc())  # no actor: an operator at the command line, not a signed-in person
    db.session.commit()
    click.echo(f"Two-factor authentication is off for {user.email} and every session is ended. "
               "They set up a new authenticator at their next sign-in.")


@scheduler_cli.command("run")
def scheduler_run() -> None:
    """Run the scheduler until stopped (SIGTERM or Ctrl-C)."""
    from supportnet.scheduler import run_forever

    run_forever(current_app._get_current_object())  # type: ignore[attr-defined]


@scheduler_cli.command("tick")
def scheduler_tick() -> None:
    """Run one scheduler pass and exit (for cron and tests)."""
    from supportnet.scheduler import run_pass

    report = run_pass(current_app._get_current_object())  # type: ignore[attr-defined]
    click.echo(f"scheduler pass done: {report}")  # e.g. "claimed 3, sent 3" (notifications)


@click.command("seed-demo")
@with_appcontext
def seed_demo() -> None:
    """Load demo data (idempotent) and print the development logins."""
    from supportnet import demo

    if current_app.config["SUPPORTNET_ENV"] == "production":
        raise click.ClickException("seed-demo creates accounts with known passwords; it refuses to run in production.")
    logins = demo.seed(now_utc())
    db.session.commit()
    click.echo("Demo logins (development only):")
    staff_need_2fa = current_app.config["REQUIRE_2FA_FOR_STAFF"]
    for role, email, password in logins:
        staff = role in ("facilitator", "admin", "coordinator", "coach")
        note = "  (asked to set up two-factor at first sign-in)" if staff and staff_need_2fa else ""
        click.echo(f"  {role:<12} {email:<28} {password}{note}")
    if not staff_need_2fa:
        click.echo(
            "  Staff sign in without two-factor here (SUPPORTNET_REQUIRE_2FA_FOR_STAFF=0; production requires it)."
        )
    if not current_app.config["MAIL_URL"]:
        click.echo(f"Emails go to the development mailbox: {current_app.config['BASE_URL']}/dev/mailbox")


@checkins_cli.command("generate-key")
def checkins_generate_key() -> None:
    """Print a new random data key (for SUPPORTNET_DATA_KEY)."""
    from supportnet import crypto

    click.echo(crypto.generate_key())


@checkins_cli.command("rotate-key")
@click.option("--new-dev-key", is_flag=True, help="Development: first put a new key in front of instance/data_key.")
def checkins_rotate_key(new_dev_key: bool) -> None:
    """Re-encrypt every encrypted value (check-in notes, own tags, measure answers, referral cards) with the newest
    key (the first in SUPPORTNET_DATA_KEY)."""
    from supportnet import crypto
    from supportnet.db import Base

    instance, config = Path(current_app.instance_path), current_app.config
    if new_dev_key:
        if config["SUPPORTNET_ENV"] == "production" or not crypto.uses_dev_key(config, instance):
            raise click.ClickException("--new-dev-key only works with the development key in instance/data_key.")
        config["DATA_KEY"] = crypto.prepend_dev_key(instance)
    try:
        count = crypto.rotate_all(db.session, Base.metadata)
    except crypto.DataKeyError as exc:
        db.session.rollback()
        raise click.ClickException(f"Nothing was changed: {exc}.") from exc
    db.session.commit()
    if new_dev_key:
        crypto.keep_only_newest_dev_key(instance)
        click.echo(f"Re-encrypted {count} values with a new development key; the old one is gone.")
    elif crypto.uses_dev_key(config, instance):
        click.echo(f"Re-encrypted {count} values with the newest key in instance/data_key.")
    else:
        click.echo(f"Re-encrypted {count} values with the newest key. You can now remove the older keys "
                   "from SUPPORTNET_DATA_KEY.")


def register_commands(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(scheduler_cli)
    app.cli.add_command(checkins_cli)
    app.cli.add_command(seed_demo)
