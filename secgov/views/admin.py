"""Administration: departments, users and settings (admins only)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlmodel import select

from secgov import auth, directory, settings
from secgov.authz import get_scoped, require_user, roles
from secgov.config import ROLES
from secgov.db import get_session
from secgov.errors import ServiceError
from secgov.forms import error_dict, int_arg, parse_form
from secgov.models import Department
from secgov.web import actor

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _department(code: str) -> Department:
    db = get_session()
    dept = db.exec(select(Department).where(Department.code == code)).first()
    return get_scoped(db, Department, dept.id if dept else None, require_user())


# --- departments -----------------------------------------------------------------------------


@bp.route("/departments/new", methods=["GET", "POST"])
@roles("admin")
def department_create():
    """Add a department."""
    db = get_session()
    viewer = require_user()
    parents = directory.departments_in_scope(db, viewer)
    if request.method == "GET":
        return render_template(
            "admin/department_form.html",
            dept=None,
            parents=parents,
            form={"parent": request.args.get("parent", "")},
            errors={},
        )
    data, errors = parse_form(directory.DepartmentCreate, empty_is_none=("parent",))
    if data is not None:
        try:
            directory.create_department(db, data, actor(), viewer)
            db.commit()
            flash(_("Department %(code)s was created.", code=data.code), "success")
            return redirect(url_for("main.departments"))
        except ServiceError as exc:
            db.rollback()
            errors = error_dict(exc)
    return render_template(
        "admin/department_form.html", dept=None, parents=parents, form=request.form, errors=errors
    ), 422


@bp.route("/departments/<code>/edit", methods=["GET", "POST"])
@roles("admin")
def department_edit(code: str):
    """Rename or move a department."""
    db = get_session()
    viewer = require_user()
    dept = _department(code)
    parents = [d for d in directory.departments_in_scope(db, viewer) if not d.path.startswith(dept.path)]
    codes = directory.code_map(db)
    if request.method == "GET":
        form = {
            "name": dept.name,
            "name_en": dept.name_en,
            "kind": dept.kind,
            "parent": codes.get(dept.parent_id, ""),
            "version": dept.version,
        }
        return render_template("admin/department_form.html", dept=dept, parents=parents, form=form, errors={})
    data, errors = parse_form(directory.DepartmentUpdate, empty_is_none=("parent",))
    if data is not None:
        try:
            directory.update_department(db, dept, data, actor(), viewer)
            db.commit()
            flash(_("Department %(code)s was saved.", code=dept.code), "success")
            return redirect(url_for("main.departments"))
        except ServiceError as exc:
            db.rollback()
            errors = error_dict(exc)
    return render_template(
        "admin/department_form.html", dept=dept, parents=parents, form=request.form, errors=errors
    ), 422


@bp.post("/departments/<code>/delete")
@roles("admin")
def department_delete(code: str):
    """Remove an empty department."""
    db = get_session()
    dept = _department(code)
    try:
        directory.delete_department(db, dept, actor())
        db.commit()
        flash(_("Department %(code)s was deleted.", code=code), "success")
    except ServiceError as exc:
        db.rollback()
        flash(exc.message, "danger")
    return redirect(url_for("main.departments"))


# --- users -----------------------------------------------------------------------------------


@bp.get("/users")
@roles("admin")
def users():
    """Users in scope, searchable, one page at a time."""
    page = int_arg("page", 1)
    q = request.args.get("q", "").strip()[:100]
    rows, total = directory.list_users(get_session(), require_user(), q=q, page=page, page_size=50)
    return render_template("admin/users.html", users=rows, total=total, page=page, page_size=50, q=q)


@bp.route("/users/new", methods=["GET", "POST"])
@roles("admin")
def user_create():
    """Add a user with roles and a first password."""
    db = get_session()
    viewer = require_user()
    departments = directory.departments_in_scope(db, viewer)
    if request.method == "GET":
        return render_template(
            "admin/user_form.html", user=None, departments=departments, all_roles=ROLES, form={"roles": []}, errors={}
        )
    data, errors = parse_form(directory.UserCreate, lists=("roles",))
    if data is not None:
        try:
            user = directory.create_user(db, data, actor(), viewer)
            db.commit()
            flash(_("User %(name)s was created.", name=user.username), "success")
            return redirect(url_for("admin.user_edit", username=user.username))
        except ServiceError as exc:
            db.rollback()
            errors = error_dict(exc)
    form = dict(request.form)
    form["roles"] = request.form.getlist("roles")
    form.pop("password", None)
    return render_template(
        "admin/user_form.html", user=None, departments=departments, all_roles=ROLES, form=form, errors=errors
    ), 422


@bp.route("/users/<username>", methods=["GET", "POST"])
@roles("admin")
def user_edit(username: str):
    """Edit a user's profile, department, roles, or disable the account."""
    db = get_session()
    viewer = require_user()
    user = directory.user_by_username(db, username, viewer)
    departments = directory.departments_in_scope(db, viewer)
    if request.method == "GET":
        form = {
            "display_name": user.display_name,
            "email": user.email,
            "department": user.department.code,
            "roles": sorted(user.roles),
            "disabled": user.disabled,
            "version": user.version,
        }
        return render_template(
            "admin/user_form.html", user=user, departments=departments, all_roles=ROLES, form=form, errors={}
        )
    data, errors = parse_form(directory.UserUpdate, lists=("roles",), checkboxes=("disabled",))
    if data is not None:
        try:
            directory.update_user(db, user, data, actor(), viewer)
            db.commit()
            flash(_("User %(name)s was saved.", name=user.username), "success")
            return redirect(url_for("admin.user_edit", username=user.username))
        except ServiceError as exc:
            db.rollback()
            errors = error_dict(exc)
    form = dict(request.form)
    form["roles"] = request.form.getlist("roles")
    return render_template(
        "admin/user_form.html", user=user, departments=departments, all_roles=ROLES, form=form, errors=errors
    ), 422


@bp.post("/users/<username>/password")
@roles("admin")
def user_password(username: str):
    """Set a new password for a user; their sessions end."""
    db = get_session()
    user = directory.user_by_username(db, username, require_user())
    try:
        auth.set_password(db, user, request.form.get("password", ""), actor())
        db.commit()
        flash(_("The password of %(name)s was reset.", name=user.username), "success")
    except ServiceError as exc:
        db.rollback()
        flash(exc.message, "danger")
    return redirect(url_for("admin.user_edit", username=username))


@bp.post("/users/<username>/mfa-reset")
@roles("admin")
def user_mfa_reset(username: str):
    """Remove a user's authenticator (lost phone); they enrol again at next sign-in."""
    db = get_session()
    user = directory.user_by_username(db, username, require_user())
    auth.disable_totp(db, user, actor())
    db.commit()
    flash(_("Two-factor authentication of %(name)s was reset.", name=user.username), "success")
    return redirect(url_for("admin.user_edit", username=username))


@bp.post("/users/<username>/sign-out")
@roles("admin")
def user_sign_out(username: str):
    """Sign a user out everywhere."""
    db = get_session()
    user = directory.user_by_username(db, username, require_user())
    auth.revoke_sessions(db, user, actor(), "sign_out_everywhere")
    db.commit()
    flash(_("%(name)s was signed out everywhere.", name=user.username), "success")
    return redirect(url_for("admin.user_edit", username=username))


# --- settings --------------------------------------------------------------------------------


@bp.route("/settings", methods=["GET", "POST"])
@roles("admin")
def settings_page():
    """Security settings: which roles must use two-factor authentication."""
    db = get_session()
    if request.method == "POST":
        try:
            settings.set_setting(db, "mfa_required_roles", request.form.getlist("mfa_required_roles"), actor())
            db.commit()
            flash(_("Settings were saved."), "success")
            return redirect(url_for("admin.settings_page"))
        except ServiceError as exc:
            db.rollback()
            flash(exc.message, "danger")
    return render_template(
        "admin/settings.html", all_roles=ROLES, mfa_roles=settings.get_setting(db, "mfa_required_roles")
    )
