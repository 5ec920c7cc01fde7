"""Column mapping: suggestions, checking a mapping, needs_mapping, remembered mappings, --map."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from catalog.models import Product
from importer.mapping import (
    MappingInvalid,
    column_keys,
    header_set_key,
    resolve_mapping,
    suggest_targets,
)
from importer.models import ImportJob, RememberedMapping
from importer.services import import_job_map, import_job_run
from importer.states import ImportStatus
from tests.support.catalogue import catalogue
from tests.support.jobs import create_job

SHOPIFY = (
    b"Handle,Title,Body (HTML),Vendor,Published,Variant SKU,Variant Price\n"
    b"anvil,Anvil,<p>Heavy</p>,Acme,TRUE,AN-1,10.00\n"
    b"bucket,Bucket,<p>Round</p>,Acme,false,BU-2,3.50\n"
    b"bucket,Bucket,,Acme,,BU-3,3.50\n"
)


def test_shopify_headers_get_suggestions_in_any_case_spacing_and_punctuation():
    names = ["Handle", "title", "BODY  (html)", "Vendor", "Published", "variant_sku", "Variant Price"]
    assert suggest_targets(names) == [None, "name", "description", None, "is_active", "sku", None]
    assert suggest_targets(["Item code", "Product name", "Long description", "Status"]) == [
        "sku", "name", "description", "is_active"
    ]


def test_an_exact_column_name_wins_the_suggestion_over_a_synonym():
    assert suggest_targets(["Title", "Name", "Product code"]) == [None, "name", "sku"]


def test_a_mapping_needs_sku_and_name_exactly_once_and_known_columns_and_targets():
    names = ["Variant SKU", "Title", "Body (HTML)"]
    confirmed, positions = resolve_mapping(
        {"Variant SKU": "sku", "title": "name", "Body (HTML)": None}, names=names
    )
    assert confirmed == {"Variant SKU": "sku", "Title": "name"}
    assert positions == {"sku": 0, "name": 1}
    with pytest.raises(MappingInvalid, match="Choose the column that holds the name"):
        resolve_mapping({"Variant SKU": "sku"}, names=names)
    with pytest.raises(MappingInvalid, match="'sku' is given to more than one column"):
        resolve_mapping({"Variant SKU": "sku", "Title": "sku"}, names=names)
    with pytest.raises(MappingInvalid, match="The file has no column 'Price'") as raised:
        resolve_mapping({"Variant SKU": "sku", "Title": "name", "Price": "name"}, names=names)
    assert "'Variant SKU', 'Title', 'Body (HTML)'" in str(raised.value)
    with pytest.raises(MappingInvalid, match="'price' is not a target"):
        resolve_mapping({"Variant SKU": "sku", "Title": "name", "Body (HTML)": "price"}, names=names)


def test_two_columns_of_one_name_are_named_by_their_position():
    names = ["SKU", "Name", "Name"]
    assert column_keys(names) == ["SKU", "Name (column 2)", "Name (column 3)"]
    with pytest.raises(MappingInvalid, match="more than one column 'Name': name it 'Name \\(column 2\\)' or"):
        resolve_mapping({"SKU": "sku", "Name": "name"}, names=names)
    _, positions = resolve_mapping({"SKU": "sku", "Name (column 3)": "name"}, names=names)
    assert positions == {"sku": 0, "name": 2}


def test_the_header_set_key_ignores_order_case_and_spacing_but_not_repeats():
    assert header_set_key(["Variant SKU", "Title"]) == header_set_key(["title", "variant  sku"])
    assert header_set_key(["Name", "Name"]) != header_set_key(["Name"])


@pytest.mark.django_db
def test_a_shopify_export_stops_in_needs_mapping_with_samples_and_suggestions(user):
    job = create_job(SHOPIFY, owner=user)
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.NEEDS_MAPPING
    assert "missing the required column(s) 'sku', 'name'" in job.message
    by_key = {column["key"]: column for column in job.columns}
    assert by_key["Variant SKU"] == {
        "key": "Variant SKU", "header": "Variant SKU", "position": 6,
        "samples": ["AN-1", "BU-2", "BU-3"], "suggested": "sku",
    }
    assert by_key["Published"]["samples"] == ["TRUE", "false"]
    assert [c["suggested"] for c in job.columns] == [
        None, "name", "description", None, "is_active", "sku", None
    ]
    assert Product.objects.count() == 0


@pytest.mark.django_db
def test_a_mapping_by_the_suggestions_imports_the_file_and_is_remembered(user):
    job = create_job(SHOPIFY, owner=user)
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    suggested = {c["key"]: c["suggested"] for c in job.columns}
    job = import_job_map(job=job, columns=suggested)
    assert job.status == ImportStatus.PENDING
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.COMPLETED, job.message
    assert job.mapping == {
        "Title": "name", "Body (HTML)": "description", "Published": "is_active", "Variant SKU": "sku"
    }
    assert catalogue() == {"AN-1": ("Anvil", "<p>Heavy</p>"), "BU-2": ("Bucket", "<p>Round</p>")}
    assert Product.objects.get(sku="BU-2").is_active is False
    assert job.skipped_rows == 1  # BU-3: an empty Published is not a state
    assert RememberedMapping.objects.filter(owner=user).count() == 1

    # The next file with the same headers, in another order and case, is mapped without asking.
    again = create_job(
        b"variant sku,title,published,handle,body (html),vendor,variant price\nAN-1,Anvil 2,yes,a,,x,1\n",
        owner=user,
    )
    import_job_run(job_id=again.pk)
    again.refresh_from_db()
    assert again.status == ImportStatus.COMPLETED, again.message
    assert again.mapping == {
        "variant sku": "sku", "title": "name", "published": "is_active", "body (html)": "description"
    }
    assert Product.objects.get(sku="AN-1").name == "Anvil 2"


@pytest.mark.django_db
def test_a_remembered_mapping_is_the_owners_only(user, other_user):
    job = create_job(SHOPIFY, owner=user)
    import_job_run(job_id=job.pk)
    import_job_map(job=ImportJob.objects.get(pk=job.pk), columns={"Variant SKU": "sku", "Title": "name"})
    theirs = create_job(SHOPIFY, owner=other_user)
    import_job_run(job_id=theirs.pk)
    assert ImportJob.objects.get(pk=theirs.pk).status == ImportStatus.NEEDS_MAPPING


@pytest.mark.django_db
def test_two_name_columns_need_a_mapping_that_says_which(user):
    job = create_job(b"sku,name,Name\nA1,Short,Long name\n", owner=user)
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.NEEDS_MAPPING
    assert "'name' more than once" in job.message
    assert [c["key"] for c in job.columns] == ["sku", "name", "Name"]
    dup = create_job(b"sku,Name,Name\nA1,Short,Long name\n", owner=user)
    import_job_run(job_id=dup.pk)
    dup.refresh_from_db()
    assert [c["key"] for c in dup.columns] == ["sku", "Name (column 2)", "Name (column 3)"]
    import_job_map(job=dup, columns={"sku": "sku", "Name (column 3)": "name"})
    import_job_run(job_id=dup.pk)
    assert catalogue() == {"A1": ("Long name", "")}


@pytest.mark.django_db
def test_a_job_that_does_not_wait_for_a_mapping_refuses_one(user):
    from importer.states import InvalidTransition

    job = create_job(b"sku,name\nA1,Bolt\n", owner=user)
    with pytest.raises(InvalidTransition, match="only an import that needs a column mapping"):
        import_job_map(job=job, columns={"sku": "sku", "name": "name"})


def _command(path, *args) -> str:
    out = io.StringIO()
    call_command("import_products", str(path), *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_the_command_line_takes_map_options(tmp_path):
    path = tmp_path / "shopify.csv"
    path.write_bytes(SHOPIFY)
    output = _command(path, "--map", "Variant SKU=sku", "--map", "Title=name", "--map", "Published=is_active")
    assert "2 created" in output and "1 skipped" in output
    assert catalogue() == {"AN-1": ("Anvil", ""), "BU-2": ("Bucket", "")}


@pytest.mark.django_db
def test_the_command_line_without_map_says_which_options_would_do(tmp_path):
    path = tmp_path / "shopify.csv"
    path.write_bytes(SHOPIFY)
    with pytest.raises(CommandError, match='--map "Title=name" --map "Body \\(HTML\\)=description"'):
        _command(path)
    with pytest.raises(CommandError, match="The file has no column 'Price'"):
        _command(path, "--map", "Variant SKU=sku", "--map", "Price=name")
    with pytest.raises(CommandError, match="--map takes HEADER=TARGET"):
        _command(path, "--map", "Variant SKU")
    assert Product.objects.count() == 0
