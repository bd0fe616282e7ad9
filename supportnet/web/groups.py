"""Groups: the directory, a group's page, creating and editing groups, and membership."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from supportnet import directory, groups, memberships, rsvps, timetable, visibility
from supportnet.clock import now_utc
from supportnet.errors import DomainError
from supportnet.extensions import db
from supportnet.models import GroupKind, MemberRole, MemberStatus
from supportnet.web.access import get_group_for, get_membership_for, viewer
from supportnet.web.forms import (
    COMMON_TYPES,
    KIND_LABELS,
    WEEKDAYS,
    GroupForm,
    InviteJoinForm,
    MemberRoleForm,
)
from supportnet.web.helpers import external_url, put_error
from supportnet.web.security import no_store

bp = Blueprint("groups", __name__)


def filters_from_args() -> directory.Filters:
    args = request.args
    kind = args.get("kind") or None
    weekday = args.get("weekday", type=int)
    return directory.Filters(
        q=(args.get("q") or "").strip()[:100],
        where=(args.get("where") or "").strip()[:100],
        kind=GroupKind(kind) if kind in {k.value for k in GroupKind} else None,
        tags=[t for t in args.getlist("tag") if t][:5],
        weekday=weekday if weekday is not None and 0 <= weekday <= 6 else None,
        time_of_day=args.get("time") if args.get("time") in directory.TIMES_OF_DAY else None,
        format=args.get("format") if args.get("format") in directory.FORMATS else None,
    )


@bp.get("/groups")
def directory_page():
    filters = filters_from_args()
    # Capped: a huge page number would overflow the database's OFFSET instead of showing an empty page.
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), 100_000)
    result = directory.search(filters, viewer(), now_utc(), page)
    return render_template(
        "groups/directory.html", result=result, filters=filters, kinds=KIND_LABELS, weekdays=WEEKDAYS,
        common_types=COMMON_TYPES, now=now_utc(),
    )


@bp.route("/groups/new", methods=["GET", "POST"])
@login_required
def create():
    if not current_user.is_facilitator:
        abort(403)
    form = GroupForm()
    if request.method == "GET":
        form.timezone.data = current_user.timezone
    if form.validate_on_submit():
        try:
            group = groups.create_group(current_user._get_current_object(), form.spec(), now=now_utc())
        except DomainError as exc:
            put_error(form, exc)
        else:
            db.session.commit()
            flash("Your group is ready. Next, schedule its meetings.", "success")
            return redirect(url_for("meetings.new_series", slug=group.slug))
    return render_template("groups/form.html", form=form, group=None), 400 if form.errors else 200


@bp.get("/groups/<slug>")
def show(slug: str):
    group = get_group_for(slug)
    user = viewer()
    now = now_utc()
    membership = visibility.membership_for(group, user)
    manager = visibility.can_manage(group, user)
    upcoming = timetable.upcoming_occurrences(group, now)
    my_rsvps = rsvps.rsvps_for_user(user, [o.id for o in upcoming]) if user else {}
    active = membership is not None and membership.status == MemberStatus.ACTIVE
    series = timetable.active_series(group) if manager or active else []
    return render_template(
        "groups/show.html",
        group=group,
        membership=membership,
        is_member=active,
        manager=manager,
        member_count=memberships.member_count(group),
        upcoming=upcoming,
        my_rsvps=my_rsvps,
        can_answer=rsvps.can_answer(group, user),
        positions=rsvps.positions_for(list(my_rsvps.values())),
        standing=rsvps.standing_series_ids(user, [s.id for s in series]),
        pending=memberships.pending_requests(group) if manager else [],
        series=series,
        kinds=KIND_LABELS,
        now=now,
    )


@bp.route("/groups/<slug>/edit", methods=["GET", "POST"])
@login_required
def edit(slug: str):
    group = get_group_for(slug, manage=True)
    form = GroupForm(obj=group if request.method == "GET" else None)
    if request.method == "GET":
        form.fill_from(group)
    if form.validate_on_submit():
        try:
            groups.update_group(group, form.spec(), now=now_utc())
        except DomainError as exc:
            db.session.rollback()
            put_error(form, exc)
        else:
            db.session.commit()
            flash("Saved.", "success")
            return redirect(url_for("groups.show", slug=group.slug))
    return render_template("groups/form.html", form=form, group=group), 400 if form.errors else 200


@bp.post("/groups/<slug>/archive")
@login_required
def archive(slug: str):
    group = get_group_for(slug, manage=True)
    groups.archive_group(group, now_utc(), by=viewer())
    db.session.commit()
    flash("The group is archived: it is gone from the directory, and its history is kept.", "info")
    return redirect(url_for("groups.show", slug=group.slug))


@bp.post("/groups/<slug>/join")
@login_required
def join(slug: str):
    form = InviteJoinForm()
    token = form.token.data or None
    group = get_group_for(slug, invite_token=token)
    if not form.validate_on_submit():
        abort(400)
    try:
        membership = memberships.join(group, current_user._get_current_object(), now_utc(), invite_token=token)
    except DomainError as exc:
        flash(str(exc), "error")
        return redirect(url_for("groups.show", slug=group.slug)), 303
    db.session.commit()
    if membership.status == MemberStatus.PENDING:
        flash("Your request is sent. A facilitator will look at it soon.", "info")
    else:
        flash(f"Welcome to {group.name}.", "success")
    return redirect(url_for("groups.show", slug=group.slug))


@bp.get("/invite/<token>")
def invite(token: str):
    no_store()  # the page names a private group; an invalid link's page is not worth keeping either
    group = memberships.group_for_invite(token, now_utc())
    if group is None:
        return render_template("auth/invalid_link.html", message="This invite link is invalid or has expired. "
                               "Ask the group's facilitator for a new one."), 404
    return render_template("groups/invite.html", group=group, form=InviteJoinForm(token=token))


@bp.post("/groups/<slug>/leave")
@login_required
def leave(slug: str):
    group = get_group_for(slug)
    membership = visibility.membership_for(group, viewer())
    if membership is None or membership.status not in (MemberStatus.ACTIVE, MemberStatus.PENDING):
        return redirect(url_for("groups.show", slug=group.slug))
    try:
        memberships.leave(membership, now_utc())
    except DomainError as exc:
        flash(str(exc), "error")
        return redirect(url_for("groups.show", slug=group.slug)), 303
    db.session.commit()
    flash(f"You left {group.name}.", "info")
    return redirect(url_for("groups.show", slug=group.slug) if visibility.visible_to(group, viewer())
                    else url_for("groups.directory_page"))


@bp.get("/groups/<slug>/members")
@login_required
def members(slug: str):
    group = get_group_for(slug, manage=True)
    return render_template(
        "groups/members.html", group=group, memberships=memberships.active_memberships(group),
        pending=memberships.pending_requests(group), role_form=MemberRoleForm(formdata=None), roles=list(MemberRole),
        invite_link=None,
    )


@bp.post("/groups/<slug>/members/<int:membership_id>/<any(approve, decline, remove):action>")
@login_required
def change_member(slug: str, membership_id: int, action: str):
    group = get_group_for(slug, manage=True)
    membership = get_membership_for(group, membership_id)
    try:
        decide = {"approve": memberships.approve, "decline": memberships.decline, "remove": memberships.remove}
        decide[action](membership, now_utc(), by=viewer())
    except DomainError as exc:
        flash(str(exc), "error")
        return redirect(url_for("groups.members", slug=group.slug)), 303
    db.session.commit()
    done = {"approve": "is now a member", "decline": "was declined", "remove": "was removed"}[action]
    flash(f"{membership.user.display_name} {done}.", "success")
    return redirect(url_for("groups.members", slug=group.slug))


@bp.post("/groups/<slug>/members/<int:membership_id>/role")
@login_required
def change_role(slug: str, membership_id: int):
    group = get_group_for(slug, manage=True)
    membership = get_membership_for(group, membership_id)
    form = MemberRoleForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        memberships.set_role(membership, form.role.data, by=viewer(), now=now_utc())
    except DomainError as exc:
        flash(str(exc), "error")
        return redirect(url_for("groups.members", slug=group.slug)), 303
    db.session.commit()
    flash(f"{membership.user.display_name} is now a {membership.role.value}.", "success")
    return redirect(url_for("groups.members", slug=group.slug))


@bp.post("/groups/<slug>/invite")
@login_required
def regenerate_invite(slug: str):
    group = get_group_for(slug, manage=True)
    try:
        token = memberships.regenerate_invite(group, now_utc())
    except DomainError as exc:
        flash(str(exc), "error")
        return redirect(url_for("groups.members", slug=group.slug)), 303
    db.session.commit()
    # Only the hash is stored, so the link is shown this once; old links stop working.
    return render_template(
        "groups/members.html", group=group, memberships=memberships.active_memberships(group),
        pending=memberships.pending_requests(group), role_form=MemberRoleForm(formdata=None), roles=list(MemberRole),
        invite_link=external_url("groups.invite", token=token),
    )
