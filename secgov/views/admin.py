"""Administration: departments, users and settings (admins only)."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request, url_for
from flask_babel import gettext as _

from secgov import auth, directory, mail, settings
from secgov.authz import roles
from secgov.models import Department
from secgov.pages import Done, Form, act, int_arg
from secgov.web import actor, can, current_user, get_session, service_config

bp = Blueprint("admin", __name__, url_prefix="/admin")

DEPARTMENT_CREATE = Form(directory.DepartmentCreate, empty_is_none=("parent",))
DEPARTMENT_UPDATE = Form(directory.DepartmentUpdate, empty_is_none=("parent",))
USER_CREATE = Form(directory.UserCreate, lists=("roles",))
USER_UPDATE = Form(directory.UserUpdate, lists=("roles",), checkboxes=("disabled",))


def _department(code: str) -> Department:
    return directory.get_department(get_session(), code, actor())


def _to_departments(message: str):
    return lambda _result: Done(url_for("main.departments"), message)


# --- departments -----------------------------------------------------------------------------


def _department_form(dept: Department | None, form, errors) -> str:
    parents = directory.departments_in_scope(get_session(), actor())
    if dept is not None:
        parents = [d for d in parents if not d.path.startswith(dept.path)]
    return render_template("admin/department_form.html", dept=dept, parents=parents, form=form, errors=errors)


@bp.route("/departments/new", methods=["GET", "POST"])
@roles("admin")
def department_create():
    """Add a department."""
    if request.method != "POST":  # GET, and HEAD: showing a form never runs it
        return _department_form(None, {"parent": request.args.get("parent", "")}, {})
    return act(
        lambda data: directory.create_department(get_session(), data, actor()),
        form=DEPARTMENT_CREATE,
        done=lambda dept: Done(url_for("main.departments"), _("Department %(code)s was created.", code=dept.code)),
        again=lambda errors: _department_form(None, request.form, errors),
    )


@bp.route("/departments/<code>/edit", methods=["GET", "POST"])
@roles("admin")
def department_edit(code: str):
    """Rename or move a department."""
    dept = _department(code)
    if request.method != "POST":  # GET, and HEAD: showing a form never runs it
        form = {
            "name": dept.name,
            "name_en": dept.name_en,
            "kind": dept.kind,
            "operator_kind": dept.operator_kind,
            "parent": directory.code_map(get_session()).get(dept.parent_id, ""),
            "version": dept.version,
        }
        return _department_form(dept, form, {})
    return act(
        lambda data: directory.update_department(get_session(), dept, data, actor()),
        form=DEPARTMENT_UPDATE,
        done=_to_departments(_("Department %(code)s was saved.", code=dept.code)),
        again=lambda errors: _department_form(dept, request.form, errors),
    )


@bp.post("/departments/<code>/delete")
@roles("admin")
def department_delete(code: str):
    """Remove an empty department; one that still holds anything answers 409 naming what."""
    dept = _department(code)
    return act(
        lambda: directory.delete_department(get_session(), dept, actor()),
        done=_to_departments(_("Department %(code)s was deleted.", code=code)),
    )


# --- users -----------------------------------------------------------------------------------


@bp.get("/users")
@roles("admin")
def users():
    """Users in scope, searchable, one page at a time."""
    page = int_arg("page", 1)
    q = request.args.get("q", "").strip()[:100]
    rows, total = directory.list_users(get_session(), actor(), q=q, page=page, page_size=50)
    return render_template("admin/users.html", users=rows, total=total, page=page, page_size=50, q=q)


def _user_form(user, form, errors) -> str:
    departments = directory.departments_in_scope(get_session(), actor())
    return render_template("admin/user_form.html", user=user, departments=departments, form=form, errors=errors)


def _user(username: str):
    return directory.user_by_username(get_session(), username, actor())


def _to_user(message: str):
    return lambda user: Done(url_for("admin.user_edit", username=user.username), message)


@bp.route("/users/new", methods=["GET", "POST"])
@roles("admin")
def user_create():
    """Add a user with roles and a first password."""
    if request.method != "POST":  # GET, and HEAD: showing a form never runs it
        return _user_form(None, {"roles": []}, {})

    def again(errors):
        form = USER_CREATE.echo()
        form.pop("password", None)
        return _user_form(None, form, errors)

    return act(
        lambda data: directory.create_user(get_session(), data, actor()),
        form=USER_CREATE,
        done=lambda user: Done(
            url_for("admin.user_edit", username=user.username), _("User %(name)s was created.", name=user.username)
        ),
        again=again,
    )


@bp.route("/users/<username>", methods=["GET", "POST"])
@roles("admin")
def user_edit(username: str):
    """Edit a user's profile, department, roles, or disable the account."""
    user = _user(username)
    if request.method != "POST":  # GET, and HEAD: showing a form never runs it
        form = {
            "display_name": user.display_name,
            "email": user.email,
            "department": user.department.code,
            "roles": sorted(user.roles),
            "disabled": user.disabled,
            "version": user.version,
        }
        return _user_form(user, form, {})
    return act(
        lambda data: directory.update_user(get_session(), user, data, actor()),
        form=USER_UPDATE,
        done=_to_user(_("User %(name)s was saved.", name=user.username)),
        again=lambda errors: _user_form(user, USER_UPDATE.echo(), errors),
    )


@bp.post("/users/<username>/password")
@roles("admin")
def user_password(username: str):
    """Set a new password for a user; their sessions end."""
    user = _user(username)

    def reset():
        auth.set_password(get_session(), user, request.form.get("password", ""), actor())
        return user

    return act(
        reset,
        done=_to_user(_("The password of %(name)s was reset.", name=user.username)),
        back=url_for("admin.user_edit", username=username),
    )


@bp.post("/users/<username>/mfa-reset")
@roles("admin")
def user_mfa_reset(username: str):
    """Remove a user's authenticator (lost phone); they enrol again at next sign-in."""
    user = _user(username)

    def reset():
        auth.disable_totp(get_session(), user, actor())
        return user

    return act(reset, done=_to_user(_("Two-factor authentication of %(name)s was reset.", name=user.username)))


@bp.post("/users/<username>/sign-out")
@roles("admin")
def user_sign_out(username: str):
    """Sign a user out everywhere."""
    user = _user(username)

    def sign_out():
        auth.revoke_sessions(get_session(), user, actor(), "sign_out_everywhere")
        return user

    return act(sign_out, done=_to_user(_("%(name)s was signed out everywhere.", name=user.username)))


# --- settings --------------------------------------------------------------------------------


def _posted_settings() -> dict:
    """The settings whose fieldsets were posted, read from the form: a setting whose fieldset was
    not sent stays as it is (an unticked checkbox sends nothing)."""
    declared = current_app.extensions["secgov_registry"].settings
    sent = set(request.form.getlist("setting"))
    return {s.key: s.read_form(request.form) for s in declared if s.key in sent and s.read_form is not None}


def _settings_page(errors: dict | None = None) -> str:
    declared = current_app.extensions["secgov_registry"].settings
    editable = settings.may_change(actor())
    mail_state = mail.state(mail.MailSettings.from_mapping(current_app.config))
    return render_template(
        "admin/settings.html",
        items=settings.current(get_session(), declared, service_config()),
        editable=editable,
        errors=errors or {},
        shown=_posted_settings() if errors else {},
        mail=mail_state,
        # The test message is a background job: offered once the jobs exist, to the city's admins.
        mail_test=mail_state.enabled and editable and "jobs.start" in current_app.view_functions and can("jobs.start"),
        mail_to=current_user().email if current_user() else "",
    )


@bp.route("/settings", methods=["GET", "POST"])
@roles("admin")
def settings_page():
    """The city-wide settings; only the root department's administrators change them."""
    if request.method != "POST":  # GET, and HEAD: showing a form never runs it
        return _settings_page()
    declared = current_app.extensions["secgov_registry"].settings
    return act(
        lambda: settings.update(get_session(), declared, _posted_settings(), actor(), service_config()),
        done=lambda _values: Done(url_for("admin.settings_page"), _("Settings were saved.")),
        again=_settings_page,
    )
