"""Commands: `flask --app supportnet users …`, `seed-demo`, `scheduler run|tick`."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select

from supportnet import accounts
from supportnet.clock import now_utc
from supportnet.errors import DomainError
from supportnet.extensions import db
from supportnet.models import SiteRole, User

users_cli = AppGroup("users", help="Manage accounts.")
scheduler_cli = AppGroup("scheduler", help="Run the reminder scheduler.")


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


@scheduler_cli.command("run")
def scheduler_run() -> None:
    """Run the scheduler until stopped (SIGTERM or Ctrl-C)."""
    from supportnet.scheduler import run_forever

    run_forever(current_app._get_current_object())  # type: ignore[attr-defined]


@scheduler_cli.command("tick")
def scheduler_tick() -> None:
    """Run one scheduler pass and exit (for cron and tests)."""
    from supportnet.scheduler import run_pass

    run_pass(current_app._get_current_object())  # type: ignore[attr-defined]
    click.echo("scheduler pass done")


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
    for role, email, password in logins:
        click.echo(f"  {role:<12} {email:<28} {password}")


def register_commands(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(scheduler_cli)
    app.cli.add_command(seed_demo)
