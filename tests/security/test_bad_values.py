"""Every bad value a client can send is a 4xx in the API's error shape, never a 500 (issue 11).

Each of these was a 500 (or Django's HTML 400/404) before: codecs that are not text encodings,
event ids and tus numbers that pass ``str.isdigit`` but not ``int()`` (or have thousands of
digits), page numbers past PostgreSQL's bigint, filters and page sizes that were silently
ignored, request bodies past Django's limits, unknown paths under ``/api/``. They go through the
API in process (DRF's test client, the whole Django stack) and, for what a server could answer
differently, through a real daphne; the command line's encoding errors through
``manage.py import_products`` as a subprocess.
"""

from __future__ import annotations

import base64
import subprocess
import sys

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from importer.models import ImportJob, Upload
from importer.uploads import upload_create
from tests.support.clients import token_client
from tests.support.processes import ROOT, running_daphne, service_env

TUS = {"Tus-Resumable": "1.0.0"}
CSV = b"sku,name\nA-1,One\n"

# Codecs Python has that are not encodings a CSV file can be saved in: byte transforms, rot13,
# and text codecs in which ASCII bytes mean something else. Each was a 500 or a job that could
# only fail (or read a file wrongly) before.
NOT_TEXT_ENCODINGS = ["rot13", "zlib", "hex", "base64", "uu", "bz2", "quopri"]
ASCII_MEANS_ELSE = ["undefined", "utf-7", "idna", "punycode", "raw_unicode_escape", "unicode_escape", "hz"]
NOT_FILE_ENCODINGS = [*NOT_TEXT_ENCODINGS, *ASCII_MEANS_ELSE, "cp037"]  # cp037: EBCDIC


def csv_upload() -> SimpleUploadedFile:
    return SimpleUploadedFile("p.csv", CSV, content_type="text/csv")


def tus_metadata(**pairs: str) -> str:
    return ",".join(f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in pairs.items())


def assert_error(
    response, status: int, *, code: str | None = None, field: str | None = None, mentions: str | None = None
) -> dict:
    """``status`` in the API's one error shape (api/exceptions.py), JSON, never HTML."""
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) >= {"detail", "code"}, body
    if code:
        assert body["code"] == code, body
    if field:
        assert field in body["errors"], body
    if mentions:
        assert mentions in body["detail"], body
    return body


@pytest.fixture
def alice(user) -> APIClient:
    client = token_client(user)
    # A 500 must show up as a failed assertion on its status, not as the view's exception.
    client.raise_request_exception = False
    return client


# --- Encodings ---------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("encoding", NOT_FILE_ENCODINGS)
def test_an_encoding_that_cannot_read_a_csv_file_is_a_400_everywhere_it_is_given(alice, user, encoding):
    # A small file posted with the import.
    response = alice.post("/api/imports/", {"file": csv_upload(), "encoding": encoding}, format="multipart")
    body = assert_error(response, 400, field="encoding", mentions=f"'{encoding}'")
    assert "cp1252" in body["detail"], "the message suggests an encoding that works"
    # A finished resumable upload, imported with an encoding.
    finished = upload_create(owner=user, length=0, filename="empty.csv")
    response = alice.post("/api/imports/", {"upload": finished.id.hex, "encoding": encoding}, format="json")
    assert_error(response, 400, field="encoding", mentions=f"'{encoding}'")
    # The tus upload's metadata, refused before any byte is sent.
    response = alice.post(
        "/api/uploads/",
        headers={
            **TUS,
            "Upload-Length": "10",
            "Upload-Metadata": tus_metadata(filename="p.csv", encoding=encoding),
        },
    )
    assert_error(response, 400, mentions=f"'{encoding}'")
    assert ImportJob.objects.count() == 0
    assert Upload.objects.count() == 1  # only the finished one made above


@pytest.mark.django_db
def test_a_non_text_codec_is_named_as_such_and_the_api_names_its_encoding_field(alice):
    response = alice.post("/api/imports/", {"file": csv_upload(), "encoding": "zlib"}, format="multipart")
    body = assert_error(response, 400, field="encoding")
    assert "'zlib' is not a text encoding" in body["detail"]
    assert "the 'encoding' option" in body["detail"] and "--encoding" not in body["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "encoding", ["utf-8", "UTF8", "utf-8-sig", "cp1252", "latin-1", "shift_jis", "mac_roman"]
)
def test_real_file_encodings_are_still_accepted(alice, encoding):
    response = alice.post("/api/imports/", {"file": csv_upload(), "encoding": encoding}, format="multipart")
    assert response.status_code == 201, response.content


@pytest.mark.django_db
@pytest.mark.parametrize("encoding", ["utf-8\x00", "x" * 2000])
def test_an_encoding_name_with_a_nul_or_thousands_of_characters_is_a_short_400(alice, user, encoding):
    response = alice.post(
        "/api/uploads/",
        headers={
            **TUS,
            "Upload-Length": "10",
            "Upload-Metadata": tus_metadata(filename="p.csv", encoding=encoding),
        },
    )
    body = assert_error(response, 400, mentions="Unknown encoding")
    assert len(body["detail"]) < 200


# --- The command line: the same rejection, worded for it ---------------------------------------------


def run_import_command(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "import_products", *args],
        cwd=ROOT,
        env=service_env(DATABASE_POOL="false"),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.django_db
@pytest.mark.parametrize("encoding", ["rot13", "utf-7"])
def test_the_command_refuses_a_codec_that_is_not_a_file_encoding_without_a_traceback(tmp_path, encoding):
    path = tmp_path / "products.csv"
    path.write_bytes(CSV)
    completed = run_import_command(str(path), "--encoding", encoding)
    assert completed.returncode != 0
    assert "Traceback" not in completed.stderr, completed.stderr
    assert f"Import failed: {path}: " in completed.stderr
    assert f"'{encoding}'" in completed.stderr
    # The command line's words: its option, not the API's field.
    assert "--encoding" in completed.stderr and "'encoding' option" not in completed.stderr


@pytest.mark.django_db
def test_the_command_words_file_problems_for_the_command_line(tmp_path):
    legacy = tmp_path / "legacy.csv"
    legacy.write_bytes(b"sku,name\nA1,Caf\xe9\n")
    gzipped = tmp_path / "products.csv.gz"
    gzipped.write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 16)
    completed = run_import_command(str(legacy))
    assert completed.returncode != 0 and "Traceback" not in completed.stderr
    assert f"Import failed: {legacy}: The file is not valid UTF-8 text" in completed.stderr
    assert "with --encoding" in completed.stderr and "'encoding' option" not in completed.stderr
    completed = run_import_command(str(gzipped))
    assert f"Import failed: {gzipped}: The file is gzip-compressed." in completed.stderr
    assert "import the .csv file" in completed.stderr and "upload" not in completed.stderr


# --- Event ids (Last-Event-ID / lastEventId) ---------------------------------------------------------


BAD_EVENT_IDS = [
    "²",  # str.isdigit() says yes, int() says no
    "١٢",  # Arabic-Indic digits: int() reads them, no id of ours has them
    "9" * 5000,  # past int()'s 4,300-digit limit
    "9" * 40,  # past the log's 64-bit counter
    "product-import:job-1:²",
    "a:1," * 1000,  # thousands of parts
]


@pytest.mark.django_db
@pytest.mark.parametrize("value", BAD_EVENT_IDS, ids=lambda v: f"{v[:12]!r}+{len(v)}")
def test_a_bad_event_id_is_a_400_before_any_stream_starts(alice, user, value):
    job = ImportJob.objects.create(owner=user, filename="p.csv")
    url = f"/api/imports/{job.pk}/events/"
    for response in (
        alice.get(url, headers={"Last-Event-ID": value}),
        alice.get(url, {"lastEventId": value}),
    ):
        assert not response.streaming
        assert_error(response, 400, field="lastEventId")


# --- tus numeric headers ----------------------------------------------------------------------------


BAD_NUMBERS = ["9" * 5000, "9" * 20, "²", "١٢", "-1", "1e3", "0x10"]


@pytest.mark.django_db
@pytest.mark.parametrize("value", BAD_NUMBERS, ids=lambda v: f"{v[:8]!r}+{len(v)}")
def test_a_bad_tus_number_is_a_400(alice, user, value):
    response = alice.post("/api/uploads/", headers={**TUS, "Upload-Length": value})
    assert_error(response, 400, mentions="Upload-Length")
    upload = upload_create(owner=user, length=10, filename="p.csv")
    url = f"/api/uploads/{upload.id.hex}"
    part = {"data": b"0123456789", "content_type": "application/offset+octet-stream"}
    response = alice.patch(url, headers={**TUS, "Upload-Offset": value}, **part)
    assert_error(response, 400, mentions="Upload-Offset")
    response = alice.patch(url, headers={**TUS, "Upload-Offset": "0"}, CONTENT_LENGTH=value, **part)
    assert response.status_code in (400, 411), response.content
    assert_error(response, response.status_code)
    upload.refresh_from_db()
    assert upload.offset == 0


# --- Lists: pages, page sizes, filters ----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/products/", "/api/imports/"])
@pytest.mark.parametrize(
    "page",
    ["9" * 29, "9" * 19, "4611686018427387904", "9" * 5000, "²", "-1", "2.5"],
    ids=lambda v: f"{v[:8]}+{len(v)}",
)
def test_a_page_past_any_list_or_not_a_number_is_a_404(alice, path, page):
    assert_error(alice.get(path, {"page": page}), 404, code="not_found")


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/products/", "/api/imports/"])
@pytest.mark.parametrize(
    "page_size", ["garbage", "0", "-1", "²", "9" * 5000, "1.5"], ids=lambda v: f"{v[:8]}+{len(v)}"
)
def test_a_page_size_that_is_not_a_positive_number_is_a_400(alice, path, page_size):
    assert_error(alice.get(path, {"page_size": page_size}), 400, field="page_size")


@pytest.mark.django_db
def test_a_huge_page_size_is_capped_at_the_maximum(alice):
    response = alice.get("/api/products/", {"page_size": "9" * 18})
    assert response.status_code == 200, response.content


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["garbage", "ture", "2", "yes please"])
def test_an_is_active_that_is_not_true_or_false_is_a_400_not_an_ignored_filter(alice, value):
    assert_error(alice.get("/api/products/", {"is_active": value}), 400, field="is_active")
    for good in ("true", "false", "1", "0", "True"):
        assert alice.get("/api/products/", {"is_active": good}).status_code == 200


# --- Bodies past Django's limits, unknown paths ---------------------------------------------------------


@pytest.mark.django_db
def test_a_json_body_past_the_limit_is_a_413_in_the_error_shape(alice, settings):
    body = b'{"sku": "' + b"x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1) + b'", "name": "n"}'
    response = alice.post("/api/products/", data=body, content_type="application/json")
    assert_error(response, 413, code="too_large", mentions="/api/uploads/")


@pytest.mark.django_db
def test_too_many_form_fields_or_files_is_a_400_in_the_error_shape(alice, settings):
    fields = "&".join(f"f{n}=1" for n in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    response = alice.post("/api/auth/token/", data=fields, content_type="application/x-www-form-urlencoded")
    assert_error(response, 400, code="too_many_fields")
    files = {f"file{n}": csv_upload() for n in range(settings.DATA_UPLOAD_MAX_NUMBER_FILES + 1)}
    response = alice.post("/api/imports/", files, format="multipart")
    assert_error(response, 400, code="too_many_files")
    assert ImportJob.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete"])
@pytest.mark.parametrize("path", ["/api/no-such-endpoint/", "/api/products/1/nothing/", "/api/x"])
def test_an_unknown_api_path_is_a_json_404(alice, method, path):
    assert_error(getattr(alice, method)(path), 404, code="not_found", mentions="no API endpoint")
    assert_error(getattr(APIClient(), method)(path), 404, code="not_found")


@pytest.mark.django_db
def test_a_missing_trailing_slash_still_redirects_a_get_and_names_the_path_for_a_write(alice):
    response = alice.get("/api/products", {"page": "1"})
    assert response.status_code == 301 and response["Location"] == "/api/products/?page=1"
    assert_error(alice.post("/api/products", {}), 404, mentions="Did you mean /api/products/?")


# --- The same, from a real server ---------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.slow
def test_a_real_server_answers_bad_values_in_the_error_shape(
    transactional_db, process_logs, django_user_model
):
    user = django_user_model.objects.create_user(username="carol", password="carol-4242")
    headers = {"Authorization": f"Token {Token.objects.create(user=user).key}"}
    job = ImportJob.objects.create(owner=user, filename="p.csv")
    with running_daphne(process_logs) as (_, url):
        answers = {
            "big body": requests.post(
                f"{url}/api/products/",
                headers={**headers, "Content-Type": "application/json"},
                data=b'{"sku": "' + b"x" * 3_000_000 + b'"}',
                timeout=30,
            ),
            "event id": requests.get(
                f"{url}/api/imports/{job.pk}/events/", headers={**headers, "Last-Event-ID": "²"}, timeout=30
            ),
            "tus length": requests.post(
                f"{url}/api/uploads/", headers={**headers, **TUS, "Upload-Length": "9" * 5000}, timeout=30
            ),
            "encoding": requests.post(
                f"{url}/api/imports/",
                headers=headers,
                data={"encoding": "rot13"},
                files={"file": ("p.csv", CSV, "text/csv")},
                timeout=30,
            ),
            "page": requests.get(
                f"{url}/api/products/", params={"page": "9" * 29}, headers=headers, timeout=30
            ),
            "unknown path": requests.get(f"{url}/api/nothing-here/", headers=headers, timeout=30),
        }
    statuses = {name: response.status_code for name, response in answers.items()}
    assert statuses == {
        "big body": 413,
        "event id": 400,
        "tus length": 400,
        "encoding": 400,
        "page": 404,
        "unknown path": 404,
    }
    for name, response in answers.items():
        assert response.headers["Content-Type"].startswith("application/json"), name
        assert {"detail", "code"} <= set(response.json()), name
