"""Undo over HTTP: POST /api/imports/{id}/undo/ (202 and the undo job), the import's `undo`, the
clear 400s and 409s, and who may undo whose import."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from catalog.models import Product
from importer import services

pytestmark = pytest.mark.django_db(transaction=True)

FILE = b"sku,name\nKEEP,Changed\nnew-1,New\nnew-2,New too\n"


def completed_import(client) -> dict:
    Product.objects.get_or_create(sku="KEEP", defaults={"name": "Kept"})
    response = client.post(
        "/api/imports/", {"file": SimpleUploadedFile("p.csv", FILE, content_type="text/csv")},
        format="multipart",
    )
    assert response.status_code == 201, response.data
    services.import_job_run(job_id=response.data["id"])
    job = client.get(f"/api/imports/{response.data['id']}/").data
    assert job["status"] == "completed", job["message"]
    return job


def test_a_completed_import_says_what_an_undo_will_do_and_the_undo_is_a_job(alice_client, user):
    job = completed_import(alice_client)
    assert job["kind"] == "import"
    assert job["undo"]["available"] is True
    assert (job["undo"]["deletes"], job["undo"]["restores"]) == (2, 1)
    assert job["undo"]["until"]

    response = alice_client.post(f"/api/imports/{job['id']}/undo/", {"force": False}, format="json")

    assert response.status_code == 202, response.data
    undo = response.data
    assert (undo["kind"], undo["undoes"], undo["status"]) == ("undo", job["id"], "pending")
    assert undo["force"] is False
    assert undo["undo"] is None
    assert undo["events_url"].endswith(f"/api/imports/{undo['id']}/events/")
    services.import_job_run(job_id=undo["id"])
    done = alice_client.get(f"/api/imports/{undo['id']}/").data
    assert (done["status"], done["deleted"], done["restored"], done["conflicts"]) == ("completed", 2, 1, 0)
    original = alice_client.get(f"/api/imports/{job['id']}/").data
    assert original["undone_by"] == undo["id"]
    assert original["undone_by_user"] == user.username
    assert original["undone_at"]
    assert Product.objects.get().name == "Kept"
    listed = alice_client.get("/api/imports/").data["results"]
    assert [j["kind"] for j in listed] == ["undo", "import"]


def test_undoing_twice_is_a_409_that_says_why(alice_client):
    job = completed_import(alice_client)
    first = alice_client.post(f"/api/imports/{job['id']}/undo/", {}, format="json")
    assert first.status_code == 202
    again = alice_client.post(f"/api/imports/{job['id']}/undo/", {}, format="json")
    assert again.status_code == 409
    assert again.data["code"] == "undo_refused"
    assert again.data["detail"] == f"This import is being undone (undo #{first.data['id']})."
    services.import_job_run(job_id=first.data["id"])
    done = alice_client.post(f"/api/imports/{job['id']}/undo/", {}, format="json")
    assert done.status_code == 409
    assert "already undone" in done.data["detail"]


def test_an_undo_of_an_undo_is_a_400(alice_client):
    job = completed_import(alice_client)
    undo = alice_client.post(f"/api/imports/{job['id']}/undo/", {}, format="json").data
    response = alice_client.post(f"/api/imports/{undo['id']}/undo/", {}, format="json")
    assert response.status_code == 400
    assert response.data["code"] == "undo_invalid"
    assert "An undo cannot be undone" in response.data["detail"]


def test_a_bad_force_is_a_400(alice_client):
    job = completed_import(alice_client)
    response = alice_client.post(f"/api/imports/{job['id']}/undo/", {"force": "perhaps"}, format="json")
    assert response.status_code == 400
    assert "force" in response.data["errors"]


def test_an_undo_can_be_cancelled_and_the_import_undone_again(alice_client):
    job = completed_import(alice_client)
    undo = alice_client.post(f"/api/imports/{job['id']}/undo/", {}, format="json").data
    cancelled = alice_client.post(f"/api/imports/{undo['id']}/cancel/")
    assert cancelled.status_code == 200
    assert cancelled.data["status"] == "cancelled"
    assert alice_client.get(f"/api/imports/{job['id']}/").data["undo"]["available"] is True
    assert alice_client.post(f"/api/imports/{job['id']}/undo/", {}, format="json").status_code == 202


def test_another_users_import_cannot_be_undone_and_is_not_revealed(alice_client, bob_client, staff_client,
                                                                   staff_user):
    job = completed_import(alice_client)
    response = bob_client.post(f"/api/imports/{job['id']}/undo/", {}, format="json")
    assert response.status_code == 404
    assert Product.objects.count() == 3
    # Staff may undo anyone's import; the import then says who did.
    response = staff_client.post(f"/api/imports/{job['id']}/undo/", {}, format="json")
    assert response.status_code == 202
    services.import_job_run(job_id=response.data["id"])
    assert alice_client.get(f"/api/imports/{job['id']}/").data["undone_by_user"] == staff_user.username
    # alice follows the undo of her import; bob sees neither.
    assert alice_client.get(f"/api/imports/{response.data['id']}/").status_code == 200
    assert bob_client.get(f"/api/imports/{response.data['id']}/").status_code == 404


def test_the_schema_documents_the_undo(alice_client):
    schema = alice_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/imports/{id}/undo/"]["post"]
    assert set(operation["responses"]) >= {"202", "400", "409"}
    body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert "force" in schema["components"]["schemas"][body]["properties"]
    job = schema["components"]["schemas"]["ImportJob"]["properties"]
    assert {"kind", "undoes", "undo", "undone_by", "undone_at", "conflicts", "conflict_sample"} <= set(job)
