"""The column mapping and the preview over HTTP: needs_mapping, POST mapping (and its 400s),
columns and preview on POST /api/imports/, confirm and discard."""

from __future__ import annotations

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from catalog.models import Product
from importer import services
from importer.models import ImportJob, Upload
from importer.uploads import upload_append, upload_create

pytestmark = pytest.mark.django_db

SHOPIFY = (
    b"Handle,Title,Body (HTML),Published,Variant SKU\n"
    b"anvil,Anvil,<p>Heavy</p>,TRUE,AN-1\n"
    b"bucket,Bucket,<p>Round</p>,false,BU-2\n"
)


def shopify_file() -> SimpleUploadedFile:
    return SimpleUploadedFile("shopify.csv", SHOPIFY, content_type="text/csv")


def completed_upload(owner, data: bytes = SHOPIFY):
    upload = upload_create(owner=owner, length=len(data), filename="shopify.csv")
    return upload_append(upload=upload, offset=0, body=io.BytesIO(data), size=len(data))


def needs_mapping(client) -> dict:
    response = client.post("/api/imports/", {"file": shopify_file()}, format="multipart")
    assert response.status_code == 201, response.data
    services.import_job_run(job_id=response.data["id"])
    job = client.get(f"/api/imports/{response.data['id']}/").data
    assert job["status"] == "needs_mapping", job["message"]
    return job


def test_a_job_in_needs_mapping_shows_its_columns_and_takes_the_suggested_mapping(alice_client):
    job = needs_mapping(alice_client)
    assert [(c["key"], c["suggested"]) for c in job["columns"]] == [
        ("Handle", None), ("Title", "name"), ("Body (HTML)", "description"),
        ("Published", "is_active"), ("Variant SKU", "sku"),
    ]
    assert job["columns"][4]["samples"] == ["AN-1", "BU-2"]
    mapping = {c["key"]: c["suggested"] for c in job["columns"]}
    response = alice_client.post(f"/api/imports/{job['id']}/mapping/", {"columns": mapping}, format="json")
    assert response.status_code == 200, response.data
    assert response.data["status"] == "pending"
    assert response.data["mapping"] == {
        "Title": "name", "Body (HTML)": "description", "Published": "is_active", "Variant SKU": "sku"
    }
    services.import_job_run(job_id=job["id"])
    done = alice_client.get(f"/api/imports/{job['id']}/").data
    assert (done["status"], done["created"]) == ("completed", 2)
    assert not Product.objects.get(sku="BU-2").is_active


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"Variant SKU": "sku"}, "Choose the column that holds the name"),
        ({"Variant SKU": "sku", "Title": "name", "Price": "description"}, "The file has no column 'Price'"),
        ({"Variant SKU": "sku", "Title": "title"}, "'title' is not a target"),
        ({"Variant SKU": "sku", "Title": "name", "Handle": "sku"}, "'sku' is given to more than one column"),
        ({"Variant SKU": "sku", "Title": 3}, "has int"),
        ([], "Give the mapping as an object"),
        ({}, "Give the mapping as an object"),
    ],
)
def test_a_bad_mapping_is_a_400_that_says_what_is_wrong_and_the_job_still_waits(
    alice_client, columns, message
):
    job = needs_mapping(alice_client)
    response = alice_client.post(f"/api/imports/{job['id']}/mapping/", {"columns": columns}, format="json")
    assert response.status_code == 400, response.data
    assert message in response.data["detail"]
    assert isinstance(response.data["errors"]["columns"], list)
    assert all(isinstance(m, str) for m in response.data["errors"]["columns"])
    assert ImportJob.objects.get(pk=job["id"]).status == "needs_mapping"


def test_a_mapping_without_columns_is_a_400(alice_client):
    job = needs_mapping(alice_client)
    response = alice_client.post(f"/api/imports/{job['id']}/mapping/", {}, format="json")
    assert response.status_code == 400
    assert "columns" in response.data["errors"]


def test_a_remembered_mapping_maps_the_next_file_over_http_without_asking(alice_client):
    job = needs_mapping(alice_client)
    mapping = {"columns": {"Variant SKU": "sku", "Title": "name"}}
    alice_client.post(f"/api/imports/{job['id']}/mapping/", mapping, format="json")
    response = alice_client.post("/api/imports/", {"file": shopify_file()}, format="multipart")
    services.import_job_run(job_id=response.data["id"])
    again = alice_client.get(f"/api/imports/{response.data['id']}/").data
    assert again["status"] == "completed", again["message"]
    assert again["mapping"] == {"Variant SKU": "sku", "Title": "name"}


def test_columns_on_create_from_an_upload_are_checked_and_a_bad_one_leaves_the_upload_unused(
    alice_client, user
):
    upload = completed_upload(user)
    response = alice_client.post(
        "/api/imports/", {"upload": str(upload.id), "columns": {"Variant SKU": "sku"}}, format="json"
    )
    assert response.status_code == 400
    assert "Choose the column that holds the name" in response.data["errors"]["columns"][0]
    assert Upload.objects.get(pk=upload.id).consumed_at is None
    assert not ImportJob.objects.exists()

    response = alice_client.post(
        "/api/imports/",
        {"upload": str(upload.id), "columns": {"Variant SKU": "sku", "Title": "name"}}, format="json",
    )
    assert response.status_code == 201, response.data
    services.import_job_run(job_id=response.data["id"])
    assert sorted(Product.objects.values_list("sku", flat=True)) == ["AN-1", "BU-2"]


def test_a_multipart_import_takes_columns_as_a_json_string_and_a_preview_flag(alice_client):
    response = alice_client.post(
        "/api/imports/",
        {
            "file": shopify_file(),
            "columns": json.dumps({"Variant SKU": "sku", "Title": "name"}),
            "preview": "true",
        },
        format="multipart",
    )
    assert response.status_code == 201, response.data
    assert response.data["preview_only"] is True
    services.import_job_run(job_id=response.data["id"])
    job = alice_client.get(f"/api/imports/{response.data['id']}/").data
    assert job["status"] == "previewed", job["message"]
    assert job["preview"] == {"create": 2, "update": 0, "unchanged": 0, "superseded": 0, "skipped": 0}
    assert [c["action"] for c in job["changes"]] == ["create", "create"]
    assert not Product.objects.exists()

    response = alice_client.post(f"/api/imports/{job['id']}/confirm/")
    assert response.status_code == 200, response.data
    assert (response.data["status"], response.data["preview_only"]) == ("pending", False)
    services.import_job_run(job_id=job["id"])
    done = alice_client.get(f"/api/imports/{job['id']}/").data
    assert (done["status"], done["created"]) == ("completed", 2)
    assert alice_client.post(f"/api/imports/{job['id']}/confirm/").status_code == 409


def test_a_previewed_job_is_discarded_by_cancel(alice_client):
    response = alice_client.post(
        "/api/imports/", {"file": SimpleUploadedFile("p.csv", b"sku,name\nA,B\n"), "preview": "true"},
        format="multipart",
    )
    services.import_job_run(job_id=response.data["id"])
    cancelled = alice_client.post(f"/api/imports/{response.data['id']}/cancel/")
    assert cancelled.status_code == 200
    assert cancelled.data["status"] == "cancelled"
    assert alice_client.post(f"/api/imports/{response.data['id']}/confirm/").status_code == 409
    assert not Product.objects.exists()


def test_bad_columns_on_a_multipart_create_are_a_400(alice_client):
    response = alice_client.post(
        "/api/imports/", {"file": shopify_file(), "columns": "not json"}, format="multipart"
    )
    assert response.status_code == 400
    assert "columns" in response.data["errors"]
    assert not ImportJob.objects.exists()
