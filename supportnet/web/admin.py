"""Site administration: who is a facilitator or an admin."""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, or_, select

from supportnet import accounts
from supportnet.clock import now_utc
from supportnet.db import LIKE_ESCAPE, contains_pattern
from supportnet.extensions import db
from supportnet.models import SiteRole, User
from supportnet.web.forms import RoleForm

bp = Blueprint("admin", __name__, url_prefix="/admin")

PAGE_SIZE = 50


def admin_required(view):
    """Only admins get in; everyone else signed in gets a 404, as if the page did not exist."""

    @wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if not current_user.is_admin:
            abort(404)
        return view(*args, **kwargs)

    return wrapper


@bp.get("/users")
@admin_required
def users():
    q = (request.args.get("q") or "").strip()[:100]
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    query = select(User).where(User.email_confirmed_at.is_not(None))
    if q:
        like = contains_pattern(q.lower())
        query = query.where(
            or_(User.email.like(like, escape=LIKE_ESCAPE), func.lower(User.display_name).like(like, escape=LIKE_ESCAPE))
        )
    pagination = db.paginate(query.order_by(User.display_name, User.id), page=page, per_page=PAGE_SIZE,
                             error_out=False)
    return render_template("admin/users.html", pagination=pagination, q=q, role_form=RoleForm(formdata=None))


@bp.post("/users/<int:user_id>/role")
@admin_required
def set_role(user_id: int):
    user = db.session.get(User, user_id) or abort(404)
    form = RoleForm()
    if not form.validate_on_submit():
        flash("Choose one of the listed roles.", "error")
        return redirect(url_for("admin.users")), 303
    role = SiteRole(form.role.data)
    if user.is_admin and role != SiteRole.ADMIN and _admin_count() <= 1:
        flash("SupportNet needs at least one admin. Make someone else an admin first.", "error")
        return redirect(url_for("admin.users"))
    accounts.set_site_role(user, role, by=current_user._get_current_object(), now=now_utc())
    db.session.commit()
    flash(f"{user.display_name} is now {role.value}.", "success")
    return redirect(url_for("admin.users", q=request.args.get("q") or None))


def _admin_count() -> int:
    return db.session.scalar(select(func.count()).select_from(User).where(User.role == SiteRole.ADMIN))
