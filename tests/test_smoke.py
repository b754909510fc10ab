"""The app starts, signs a user in and answers its health check."""

from helpers import login


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}


def test_sign_in_and_home(client, make_user):
    user = make_user("alice", roles=("officer",))
    response = login(client, user)
    assert response.status_code == 302
    page = client.get("/")
    assert page.status_code == 200
    assert "alice" in page.get_data(as_text=True)


def test_anonymous_is_sent_to_login(client):
    response = client.get("/departments")
    assert response.status_code == 302
    assert "/login?next=/departments" in response.headers["Location"]
